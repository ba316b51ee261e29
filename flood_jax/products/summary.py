"""What mapping a scene gave, as one frozen value: `SceneSummary` (the API's result, one per
scene of a list too). Its fields are the summary.csv columns and the STAC Item's properties;
a field a map does not have (flood water without a reference layer, people without a population
raster, areas of a failed scene) is None. Readable by attribute, or by key as those columns are
named (`summary["water_km2"]`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from flood_jax.scenes.layers import FULL_COVER


@dataclasses.dataclass(frozen=True)
class SceneSummary:
  """One scene: its inputs and scale decision, the model, the areas (km², shares of valid
  pixels), people, polygons and time; `status` done, skipped (complete) or failed (`error`)."""

  scene: str
  input: str | None = None  # what the list named (summary.csv tells scenes of one name apart)
  status: str = "done"
  error: str | None = None
  map: str | None = None
  inputs: tuple[str, ...] = ()
  scale: str | None = None
  scale_reason: str | None = None
  acquired: str | None = None
  acquired_from: str | None = None
  area: str | None = None  # the area of interest mapped (a file or a bbox), None: the scene
  window: tuple[int, ...] | None = None  # (row, col, height, width) of the scene mapped
  model: str | None = None
  pixel_size_m: float | None = None
  windows: int | None = None
  valid_pixels: int | None = None
  dry_km2: float | None = None
  nodata_km2: float | None = None
  water_fraction: float | None = None
  water_km2: float | None = None
  flood_km2: float | None = None
  flood_fraction: float | None = None
  permanent_water_km2: float | None = None
  permanent_water_fraction: float | None = None
  excluded_km2: float | None = None
  excluded_fraction: float | None = None
  people_in_water: int | None = None
  people_in_flood_water: int | None = None
  people_in_permanent_water: int | None = None
  polygons: int | None = None
  layers: dict | None = None  # layer option -> the file it was read from
  reference_water_coverage: float | None = None  # shares of the scene's extent each layer covers
  exclusion_coverage: float | None = None
  hand_coverage: float | None = None
  population_coverage: float | None = None
  seconds: float | None = None
  worker: str | None = None
  pre_event: SceneSummary | None = None  # the pre-event scene's inputs and scale decision

  @classmethod
  def of(cls, values: Mapping) -> SceneSummary:
    """From the mapping a scene's run or a summary.csv row gives (its `grid` left out)."""
    known = {field.name for field in dataclasses.fields(cls)}
    fields = {key: value for key, value in values.items() if key in known and value != ""}
    if isinstance(fields.get("pre_event"), Mapping):
      fields["pre_event"] = cls.of(fields["pre_event"])
    for name in ("inputs", "window"):
      if isinstance(fields.get(name), list):
        fields[name] = tuple(fields[name])
    return cls(**fields)

  def __getitem__(self, key: str):
    if key not in self.__dataclass_fields__:
      raise KeyError(key)
    return getattr(self, key)

  def __contains__(self, key: str) -> bool:
    """Whether the scene has that figure (a field that is set)."""
    return getattr(self, key, None) is not None

  def get(self, key: str, default=None):
    value = getattr(self, key, None)
    return default if value is None else value

  def as_dict(self) -> dict:
    """The fields that are set."""
    return {
      field.name: value.as_dict() if isinstance(value, SceneSummary) else value
      for field in dataclasses.fields(self)
      if (value := getattr(self, field.name)) is not None
    }


def partial(summary, layer: str) -> str:
  """' (partial: the population raster covers 42% of the scene)' where the layer that feeds a
  figure covers less than the scene's extent; '' otherwise."""
  share = summary.get(f"{layer}_coverage")
  if share is None or share >= FULL_COVER:
    return ""
  return f" (partial: the {layer.replace('_', ' ')} raster covers {share:.0%} of the scene)"
