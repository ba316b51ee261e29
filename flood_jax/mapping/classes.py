"""The classes of a flood map: their values, colours and names (`ClassScheme`), chosen once per
map and handed to the rules, the writers, the tally, the vectors and the STAC Item."""

from __future__ import annotations

import dataclasses

DRY, WATER, PERMANENT_WATER, EXCLUDED, NODATA = 0, 1, 2, 3, 255
COLOURS = {
  DRY: (235, 230, 215, 255),
  WATER: (30, 90, 220, 255),
  PERMANENT_WATER: (10, 30, 110, 255),
  EXCLUDED: (150, 150, 150, 255),
  NODATA: (0, 0, 0, 0),
}


@dataclasses.dataclass(frozen=True)
class ClassScheme:
  """The classes of one map. With a reference water layer, water splits into flood water (1)
  and permanent water (2); with exclusion layers (an exclusion raster, HAND), the map abstains
  where they say (3, excluded), so nobody reads those pixels as dry."""

  permanent_water: bool = False
  excluded: bool = False

  @property
  def names(self) -> dict[int, str]:
    names = {DRY: "dry", WATER: "flood water" if self.permanent_water else "water"}
    if self.permanent_water:
      names[PERMANENT_WATER] = "permanent water"
    if self.excluded:
      names[EXCLUDED] = "excluded"
    return {**names, NODATA: "no data"}

  @property
  def water_classes(self) -> tuple[int, ...]:
    return (WATER, PERMANENT_WATER) if self.permanent_water else (WATER,)

  @property
  def valid_classes(self) -> tuple[int, ...]:
    """The classes where the map says dry or water."""
    return (DRY, *self.water_classes)

  def title(self, what: str = "flood map") -> str:
    """The band description: `what`, then each class value and name."""
    return f"{what}: " + ", ".join(f"{value} {name}" for value, name in self.names.items())
