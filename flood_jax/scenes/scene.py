"""Windowed reading of whole Sentinel-1 scenes as VV and VH in dB, whatever the product.

`SceneReader` reads a `sources.SceneInput` window by window: VV and VH from one file or two (on
the same grid, compared with a tolerance of a small fraction of a pixel), converted from power or
amplitude to dB, with every kind of no data as NaN: NaN, the file's nodata tag, -32768, power or
amplitude <= 0, zero-filled borders (VV and VH both exactly 0 in dB), and the layover and shadow
pixels of a HyP3 layover/shadow map. `WarpedReader` maps a scene onto another grid (a pre-event
scene onto the post-event grid; `resampled_reader`: the same scene at another pixel size),
warping power (not dB) with GDAL window by window. Memory stays bounded by one batch of windows
whatever the scene size.
"""

from __future__ import annotations

import math
import types
from typing import NamedTuple

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from flood_jax.errors import DataError
from flood_jax.scenes.geotiff import check_same_grid, open_raster, read_window
from flood_jax.scenes.scale import mark_nodata, to_db
from flood_jax.scenes.sources import SceneInput

# GDAL's block cache defaults to 5% of RAM: written blocks and the COG driver's overview pass
# accumulate there, so memory would grow with the scene. Scene I/O runs under this cap.
GDAL_CACHE_MB = 128
# HyP3 layover/shadow map: values add up flags; these two mean no usable backscatter.
LAYOVER, SHADOW = 4, 16


def bounded_gdal_cache() -> rasterio.Env:
  """Context for scene I/O with GDAL's block cache capped at GDAL_CACHE_MB."""
  return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20)  # bytes in rasterio 1.4


AREA_SCALE_TOLERANCE = 0.005  # a CRS this close to true area keeps its planar areas (UTM)


def areal_scales(crs, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
  """float64: how much larger the projected CRS `crs` draws ground areas at the points (xs, ys)
  (pyproj's areal scale factor), 1 where that is within AREA_SCALE_TOLERANCE of 1."""
  from pyproj import CRS, Proj, Transformer

  projected = CRS.from_user_input(crs.to_wkt())
  lon, lat = Transformer.from_crs(projected, "EPSG:4326", always_xy=True).transform(xs, ys)
  scales = np.asarray(Proj(projected).get_factors(lon, lat).areal_scale, np.float64)
  return np.where(np.abs(scales - 1.0) > AREA_SCALE_TOLERANCE, scales, 1.0)


class Grid(NamedTuple):
  """Where a scene's pixels are: CRS, affine transform and size."""

  crs: object
  transform: Affine
  height: int
  width: int

  def bounds(self) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the grid in its CRS (north-up)."""
    left, top = self.transform @ (0, 0)
    right, bottom = self.transform @ (self.width, self.height)
    return min(left, right), min(top, bottom), max(left, right), max(top, bottom)

  def pixel_size(self) -> float:
    """Pixel side in metres (at the scene's centre for a geographic CRS)."""
    side = math.sqrt(abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d))
    if self.crs.is_geographic:
      centre_latitude = (self.transform @ (self.width / 2, self.height / 2))[1]
      return side * 111_320.0 * math.sqrt(max(math.cos(math.radians(centre_latitude)), 1e-6))
    return side * self.crs.linear_units_factor[1]

  @classmethod
  def of(cls, dataset) -> Grid:
    """The grid of an open raster (a rasterio dataset or WarpedVRT)."""
    return cls(dataset.crs, dataset.transform, dataset.height, dataset.width)

  def named(self, name: str) -> types.SimpleNamespace:
    """The grid with a `name`, as `geotiff.check_same_grid` takes open datasets."""
    return types.SimpleNamespace(name=name, **self._asdict())

  def centre_ground_metres_per_column(self) -> float:
    """Geodesic metres along one column step at the grid's centre (WGS84): a scale bar's true
    length in any CRS (Web Mercator's columns are not their nominal metres away from the
    equator, nor a degree of longitude the same everywhere)."""
    from pyproj import Geod, Transformer

    rows, cols = self.height / 2, self.width / 2
    span = max(min(self.width, 100), 1)
    xs, ys = zip(*(self.transform @ (cols + offset, rows) for offset in (-span / 2, span / 2)),
                 strict=True)  # fmt: skip
    lon, lat = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    _, _, metres = Geod(ellps="WGS84").inv(lon[0], lat[0], lon[1], lat[1])
    return abs(metres) / span

  def centre_pixel_area_m2(self) -> float:
    """The ground area of a pixel in the middle row (what the minimum mapping unit counts in)."""
    return float(np.median(self.row_areas_m2(self.height // 2, 1)))

  def row_areas_m2(self, top: int, rows: int) -> np.ndarray:
    """float64 [rows]: the ground area of one pixel of each row: geodesic in a geographic CRS;
    in a projected one the planar area over the CRS's area scale at the row's centre
    (`areal_scales`: Web Mercator's 1/cos² of the latitude; 1 within 0.5%, UTM)."""
    if not self.crs.is_geographic:
      side = self.crs.linear_units_factor[1]
      area = abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d)
      centres = [self.transform @ (self.width / 2, row + 0.5) for row in range(top, top + rows)]
      xs, ys = (np.asarray(values) for values in zip(*centres, strict=True))
      return area * side * side / areal_scales(self.crs, xs, ys)
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    areas = []
    for row in range(top, top + rows):
      corners = [
        self.transform @ (0, row),
        self.transform @ (1, row),
        self.transform @ (1, row + 1),
        self.transform @ (0, row + 1),
      ]
      area, _ = geod.polygon_area_perimeter(*zip(*corners, strict=True))
      areas.append(abs(area))
    return np.asarray(areas)


class SceneReader:
  """Reads [rows, cols, 2] windows of VV and VH in dB of a `SceneInput`, NaN where no data."""

  def __init__(self, scene: SceneInput):
    self.scene = scene
    self._datasets = {path: open_raster(path) for path in scene.files}
    vv, vh = self._datasets[scene.vv.path], self._datasets[scene.vh.path]
    if vv.crs is None:
      raise DataError(f"{scene.vv.path}: has no CRS; a flood map must be georeferenced")
    check_same_grid(vv, {"VH": vh, "layover/shadow map": self._mask_dataset()})
    self.grid = Grid.of(vv)

  def _mask_dataset(self):
    ref = self.scene.layover_shadow
    return self._datasets[ref.path] if ref is not None else None

  def _read_vv_vh(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """float32 [rows, cols] VV and VH as stored, no data as NaN; one read where they share a
    file (stacked, Earth Engine), NaN beyond the scene."""
    vv, vh = self.scene.vv, self.scene.vh
    if vv.path == vh.path:
      values = read_window(self._datasets[vv.path], [vv.band, vh.band], window, np.nan)
    else:
      values = [read_window(self._datasets[ref.path], [ref.band], window, np.nan)[0]
                for ref in (vv, vh)]  # fmt: skip
    for ref, band in zip((vv, vh), values, strict=True):
      mark_nodata(band, self._datasets[ref.path].nodatavals[ref.band - 1])
    return values[0], values[1]

  def read_window(self, top: int, rows: int, left: int = 0, cols: int | None = None) -> np.ndarray:
    """float32 [rows, cols, 2]: VV and VH in dB of rows [top, top + rows) and columns
    [left, left + cols) (default: to the right edge); pixels beyond the scene are NaN.

    Prediction reads one batch of windows at a time, so no array spans the scene's width
    (memory must stay flat as scenes grow); GDAL's block cache serves overlapping reads.
    """
    cols = self.grid.width - left if cols is None else cols
    window = Window(left, top, cols, rows)
    vv, vh = self._read_vv_vh(window)
    pixels = np.empty((rows, cols, 2), np.float32)
    pixels[..., 0] = to_db(vv, self.scene.scale)
    pixels[..., 1] = to_db(vh, self.scene.scale)
    del vv, vh
    missing = np.isnan(pixels).any(axis=-1)
    if self.scene.scale == "db":
      missing |= (pixels == 0).all(axis=-1)  # zero-filled borders
    mask = self._mask_dataset()
    if mask is not None:
      flags = read_window(mask, [self.scene.layover_shadow.band], window, 0, np.int32)[0]
      missing |= (flags & (LAYOVER | SHADOW)) != 0
    pixels[missing] = np.nan
    return pixels

  def close(self) -> None:
    for dataset in self._datasets.values():
      dataset.close()


class WarpedReader:
  """A `SceneReader`'s scene on another `grid` (any CRS, transform and size): a pre-event scene
  on the post-event one's grid, or a scene on a coarser grid of its own (`resampled_grid`).

  Each window reads the source pixels it covers (and two more on each side), converts dB to
  power, lets GDAL's warper average them onto the target window, and converts back to dB, so
  memory stays one window. Target pixels beyond the source are NaN.
  """

  def __init__(self, reader: SceneReader, grid: Grid):
    self.reader, self.grid, self.scene = reader, grid, reader.scene

  def source_window(self, top: int, rows: int, left: int, cols: int) -> tuple[int, int, int, int]:
    """(first_row, last_row, first_col, last_col) of the source pixels under a target window,
    clipped to the source; empty where they do not meet."""
    source, target = self.reader.grid, self.grid
    corners = target.transform @ Affine.translation(left, top)
    bounds = (*(corners @ (0, rows)), *(corners @ (cols, 0)))  # west, south, east, north
    west, south, east, north = transform_bounds(target.crs, source.crs, *bounds, densify_pts=21)
    inverse = ~source.transform
    xs, ys = zip(*(inverse @ (x, y) for x in (west, east) for y in (south, north)), strict=True)
    first_row = max(int(math.floor(min(ys))) - 2, 0)
    last_row = min(int(math.ceil(max(ys))) + 2, source.height)
    first_col = max(int(math.floor(min(xs))) - 2, 0)
    last_col = min(int(math.ceil(max(xs))) + 2, source.width)
    return first_row, last_row, first_col, last_col

  def read_window(self, top: int, rows: int, left: int = 0, cols: int | None = None) -> np.ndarray:
    """As `SceneReader.read_window`, on this grid."""
    source, target = self.reader.grid, self.grid
    cols = target.width - left if cols is None else cols
    output = np.full((2, rows, cols), np.nan, np.float32)
    first_row, last_row, first_col, last_col = self.source_window(top, rows, left, cols)
    if last_row <= first_row or last_col <= first_col:
      return np.moveaxis(output, 0, -1)
    db = self.reader.read_window(first_row, last_row - first_row, first_col, last_col - first_col)
    reproject(
      np.moveaxis(10.0 ** (db / 10.0), -1, 0).astype(np.float32),
      output,
      src_transform=source.transform @ Affine.translation(first_col, first_row),
      src_crs=source.crs,
      dst_transform=target.transform @ Affine.translation(left, top),
      dst_crs=target.crs,
      src_nodata=np.nan,
      dst_nodata=np.nan,
      resampling=Resampling.average,
    )
    return np.moveaxis(to_db(output, "power"), 0, -1).astype(np.float32)

  def close(self) -> None:
    self.reader.close()


def resampled_grid(grid: Grid, pixel_size: float, name: str) -> Grid:
  """`grid` with pixels of `pixel_size` (CRS units) from the same origin, covering it."""
  if grid.transform.b or grid.transform.d:
    raise DataError(f"{name}: a rotated grid cannot be resampled")
  scale_x = pixel_size / abs(grid.transform.a)
  scale_y = pixel_size / abs(grid.transform.e)
  transform = grid.transform @ Affine.scale(scale_x, scale_y)
  height, width = math.ceil(grid.height / scale_y), math.ceil(grid.width / scale_x)
  return Grid(grid.crs, transform, height, width)


def resampled_reader(reader: SceneReader, pixel_size: float) -> WarpedReader:
  """The scene on a grid of `pixel_size` (CRS units) with the same origin, power averaged."""
  return WarpedReader(reader, resampled_grid(reader.grid, pixel_size, reader.scene.name))


def overlap_fraction(inner: Grid, outer: Grid) -> float:
  """The share of `outer`'s extent that `inner`'s extent covers (in `outer`'s CRS)."""
  west, south, east, north = transform_bounds(inner.crs, outer.crs, *inner.bounds(), densify_pts=21)
  o_west, o_south, o_east, o_north = outer.bounds()
  width = max(min(east, o_east) - max(west, o_west), 0.0)
  height = max(min(north, o_north) - max(south, o_south), 0.0)
  return width * height / ((o_east - o_west) * (o_north - o_south))
