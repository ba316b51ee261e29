"""An area of interest: the part of a scene that is read and mapped.

`load_area` reads what a user names: a vector file (GeoJSON, GeoPackage, Shapefile, FlatGeobuf:
anything OGR reads through pyogrio, in any CRS, one or more polygons), a bounding box
`(west, south, east, north)` in degrees (EPSG:4326), or GeoJSON-like geometries. `AreaReader`
is a scene reader cut to the area: its grid is the scene's window over the polygons, its
`blended_rows` let the model see `context` more pixels of the scene around that window (so the
map near the window's edges is the whole scene's), and pixels outside the polygons come out
invalid (no data in the map). Nothing outside the window and its context is read.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import shapely
from affine import Affine
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom

from flood_jax.errors import DataError, UsageError
from flood_jax.scenes.scene import Grid

WGS84 = "EPSG:4326"
EDGE_TOLERANCE = 1e-3  # pixels


@dataclasses.dataclass(frozen=True)
class Area:
  """Polygons (GeoJSON-like mappings) in `crs`, and what the user named them by."""

  geometries: tuple[dict, ...]
  crs: str
  name: str

  def on(self, crs) -> list[dict]:
    """The polygons in `crs` (densified edges: a straight degree line is curved in UTM)."""
    return [transform_geom(self.crs, crs, geometry)
            for geometry in self.geometries]  # fmt: skip


def bbox_area(west: float, south: float, east: float, north: float) -> Area:
  """The box `west, south, east, north` in degrees (EPSG:4326)."""
  text = f"{west:g},{south:g},{east:g},{north:g}"
  if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
    raise UsageError(
      f"--bbox={text}: expected W,S,E,N in degrees with W < E and S < N (longitude within "
      "±180, latitude within ±90)"
    )
  box = shapely.segmentize(shapely.box(west, south, east, north), 0.01)
  return Area((shapely.geometry.mapping(box),), WGS84, f"bbox {text}")


def parse_bbox(text: str) -> Area:
  """`--bbox=W,S,E,N` (degrees)."""
  try:
    values = [float(value) for value in text.split(",")]
  except ValueError:
    values = []
  if len(values) != 4:
    raise UsageError(f"--bbox={text}: expected four numbers W,S,E,N in degrees")
  return bbox_area(*values)


def read_area_file(path: str) -> Area:
  """The polygons of a vector file (all its features, any CRS)."""
  import pyogrio

  if not Path(path).exists() and not path.startswith("/vsi"):
    raise UsageError(f"--aoi={path}: no such file")
  try:
    meta, _, geometries, _ = pyogrio.raw.read(path)
  except Exception as error:  # pyogrio raises its own errors and OGR's
    raise DataError(f"{path}: not a vector file OGR can read ({error})") from None
  if meta.get("crs") is None:
    raise DataError(f"{path}: has no CRS; an area of interest must be georeferenced")
  shapes = [shape for shape in shapely.from_wkb(geometries) if shape is not None]
  polygons = [shape for shape in shapes if shape.geom_type in ("Polygon", "MultiPolygon")]
  if not polygons:
    kinds = sorted({shape.geom_type for shape in shapes}) or ["no geometry"]
    raise DataError(f"{path}: holds {', '.join(kinds)}; an area of interest is polygons")
  return Area(tuple(shapely.geometry.mapping(shape) for shape in polygons), meta["crs"], path)


def load_area(area) -> Area | None:
  """An `Area` from a path, a (W, S, E, N) box in degrees, a GeoJSON-like geometry (EPSG:4326)
  or an `Area`; None stays None."""
  if area is None or isinstance(area, Area):
    return area
  if isinstance(area, str | Path):
    return read_area_file(str(area))
  if isinstance(area, tuple | list) and len(area) == 4:
    return bbox_area(*(float(value) for value in area))
  if isinstance(area, dict) or hasattr(area, "__geo_interface__"):
    shape = shapely.geometry.shape(area)
    if shape.geom_type not in ("Polygon", "MultiPolygon"):
      raise UsageError(f"aoi: a {shape.geom_type}; an area of interest is polygons")
    return Area((shapely.geometry.mapping(shape),), WGS84, "the given polygon")
  raise UsageError(
    f"aoi={area!r}: give a vector file's path, (west, south, east, north) in degrees or a "
    "GeoJSON-like polygon"
  )


@dataclasses.dataclass(frozen=True)
class Context:
  """The pixels the model reads around an area's window: `top` and `left` rows and columns
  before it, and the `height` x `width` of the window with its context."""

  top: int
  left: int
  height: int
  width: int


def area_window(
  polygons: list[dict], grid: Grid, area: str, scene: str
) -> tuple[int, int, int, int]:
  """(row, col, height, width) of the grid's pixels under `polygons` (in the grid's CRS),
  clipped to the grid; DataError naming the area and the scene where they do not meet."""
  shapes = [shapely.geometry.shape(polygon) for polygon in polygons]
  west, south, east, north = shapely.union_all(shapes).bounds
  inverse = ~grid.transform
  cols, rows = zip(*(inverse @ (x, y) for x in (west, east) for y in (south, north)), strict=True)
  # A polygon drawn on pixel edges keeps them (not a row of no data from rounding errors).
  top = max(math.floor(min(rows) + EDGE_TOLERANCE), 0)
  bottom = min(math.ceil(max(rows) - EDGE_TOLERANCE), grid.height)
  left = max(math.floor(min(cols) + EDGE_TOLERANCE), 0)
  right = min(math.ceil(max(cols) - EDGE_TOLERANCE), grid.width)
  if bottom <= top or right <= left:
    raise DataError(f"{area}: the area of interest misses the scene {scene}")
  return top, left, bottom - top, right - left


@dataclasses.dataclass(frozen=True)
class Cut:
  """Where an area lies on a scene's grid: the window's `offset` (row, col), its `grid`, the
  `context` read around it, the polygons in the grid's CRS and the area's name."""

  offset: tuple[int, int]
  grid: Grid
  context: Context
  polygons: tuple[dict, ...]
  area_name: str

  @classmethod
  def of(cls, area: Area, grid: Grid, context: int, scene: str) -> Cut:
    """The cut of `area` on `grid` with up to `context` pixels around it (where the scene has
    them)."""
    polygons = tuple(area.on(grid.crs))  # densified and warped once
    top, left, height, width = area_window(polygons, grid, area.name, scene)
    before_top, before_left = min(context, top), min(context, left)
    return cls(
      (top, left),
      Grid(grid.crs, grid.transform @ Affine.translation(left, top), height, width),
      Context(
        before_top,
        before_left,
        before_top + height + min(context, grid.height - top - height),
        before_left + width + min(context, grid.width - left - width),
      ),
      polygons,
      area.name,
    )

  def inside(self, top: int, rows: int) -> np.ndarray:
    """bool [rows, width]: pixels of rows [top, top + rows) of the window whose centres the
    polygons cover."""
    transform = self.grid.transform @ Affine.translation(0, top)
    return ~geometry_mask(self.polygons, (rows, self.grid.width), transform)


class AreaReader:
  """A scene reader (`scene.SceneReader` or `WarpedReader`) cut to an area by a `Cut` of its
  grid: `grid` is the window over the polygons; reads beyond the window are the scene's."""

  def __init__(self, reader, cut: Cut):
    self.reader, self.cut, self.scene, self.grid = reader, cut, reader.scene, cut.grid

  def read_window(self, top: int, rows: int, left: int = 0, cols: int | None = None) -> np.ndarray:
    """As `SceneReader.read_window`, in the window's grid."""
    cols = self.grid.width - left if cols is None else cols
    return self.reader.read_window(top + self.cut.offset[0], rows, left + self.cut.offset[1], cols)

  def blended_rows(
    self, model, tiling: tuple[int, int, int], on_batch: Callable[[int], None] | None = None
  ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The model's `blended_rows` over the window and its context, cut to the window, with
    pixels outside the polygons invalid."""
    context = self.cut.context

    def read_with_context(top: int, rows: int, left: int, cols: int) -> np.ndarray:
      return self.read_window(top - context.top, rows, left - context.left, cols)

    bands = model.blended_rows(read_with_context, context.height, context.width, tiling, on_batch)
    columns = slice(context.left, context.left + self.grid.width)
    for top, probability, valid in bands:
      first = max(top, context.top)
      last = min(top + len(probability), context.top + self.grid.height)
      if last <= first:
        continue
      band = slice(first - top, last - top)
      inside = self.cut.inside(first - context.top, last - first)
      yield first - context.top, probability[band, columns], valid[band, columns] & inside

  def close(self) -> None:
    self.reader.close()


def mapped_shape(reader) -> tuple[int, int]:
  """(rows, cols) the model predicts for a reader: an area's window with its context."""
  if isinstance(reader, AreaReader):
    return reader.cut.context.height, reader.cut.context.width
  return reader.grid.height, reader.grid.width


def scene_rows(
  model, reader, tiling, on_batch=None
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
  """Bands of finished rows (top, probability, validity) of a reader's grid: an area's
  (`AreaReader.blended_rows`) or a whole scene's."""
  if isinstance(reader, AreaReader):
    return reader.blended_rows(model, tiling, on_batch)
  return model.blended_rows(reader.read_window, reader.grid.height, reader.grid.width, tiling,
                            on_batch)  # fmt: skip
