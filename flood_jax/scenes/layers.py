"""Ancillary rasters on a scene's grid, warped window by window (GDAL's WarpedVRT), any CRS and
resolution: the reference water layer that tells permanent water from flood water, and the
exclusion layers where a map abstains (as the Copernicus GFM exclusion mask does).

- `ReferenceWater`: JRC Global Surface Water occurrence (0-100 %), nearest neighbour;
- `Exclusion`: any raster whose nonzero pixels are excluded (radar shadow, urban, sand, steep
  terrain, ...), nearest neighbour, and HAND (height above nearest drainage, m) above a maximum,
  bilinear: water far above a drainage is most likely a dark dry surface (ASF's HyP3 water map
  keeps water only below 15 m of HAND).
No data in a layer never excludes nor makes permanent water: the map decides there as without it.
"""

from __future__ import annotations

import numpy as np
import rasterio
from absl import logging
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from flood_jax.core.windows import column_blocks
from flood_jax.errors import DataError
from flood_jax.scenes.geotiff import read_window
from flood_jax.scenes.scene import Grid, overlap_fraction


def open_georeferenced(path: str, what: str):
  """The raster at `path` opened; DataError naming the file where it cannot be read or has no
  CRS."""
  try:
    source = rasterio.open(path)
  except rasterio.errors.RasterioIOError as error:
    raise DataError(f"{path}: {what} raster not readable ({error})") from None
  if source.crs is None:
    source.close()
    raise DataError(f"{path}: {what} raster has no CRS")
  return source


def open_layer(path: str, what: str, grid: Grid):
  """(the raster at `path` opened, the share of `grid`'s extent it covers); DataError naming
  the file where it cannot be read or has no CRS."""
  source = open_georeferenced(path, what)
  return source, overlap_fraction(Grid.of(source), grid)


FULL_COVER = 0.999  # a layer covering less of a scene's extent makes its figures partial
OUTSIDE = {  # what the map does where a layer does not reach
  "reference water": "no water there is permanent",
  "exclusion": "nothing there is excluded",
  "HAND": "nothing there is excluded",
  "population": "no people are counted there",
  "DEM": "the geolocation grid's heights stand there (no terrain correction)",
}


def warn_partial_overlap(path: str, what: str, covered: float, scene: str = "") -> None:
  """A warning, with the figure and the scene, where the layer covers less than the scene's
  extent (the figures it feeds say "partial" in every output too)."""
  if covered < FULL_COVER:
    where = f" {scene}" if scene else " the scene"
    logging.warning(
      "%s: the %s raster covers %.1f%% of%s; %s", path, what, 100 * covered, where, OUTSIDE[what]
    )


class WarpedLayer:
  """Band 1 of the raster at `path` on `grid`, float32 with NaN where it has no data."""

  def __init__(
    self, path: str, grid: Grid, what: str, resampling=Resampling.nearest, scene: str = ""
  ):
    self.path = path
    self._source, self.covered = open_layer(path, what, grid)
    warn_partial_overlap(path, what, self.covered, scene)
    self._vrt = WarpedVRT(
      self._source,
      crs=grid.crs,
      transform=grid.transform,
      width=grid.width,
      height=grid.height,
      resampling=resampling,
      src_nodata=self._source.nodata,
      nodata=np.nan,
      dtype="float32",
    )

  def mask(self, top: int, rows: int, width: int, predicate) -> np.ndarray:
    """bool [rows, width]: `predicate(values)` of rows [top, top + rows), float32 values NaN
    where no data or outside, read in blocks of columns: GDAL's warper buffers, and the float
    values, never span the scene's width."""
    mask = np.empty((rows, width), bool)
    for cols in column_blocks(width):
      window = Window(cols.start, top, cols.stop - cols.start, rows)
      mask[:, cols] = predicate(read_window(self._vrt, [1], window, np.nan, np.float32)[0])
    return mask

  def values(self, top: int, rows: int, left: int, cols: int) -> np.ndarray:
    """float32 [rows, cols] of a window, NaN where no data or outside the raster."""
    return read_window(self._vrt, [1], Window(left, top, cols, rows), np.nan, np.float32)[0]

  def close(self) -> None:
    self._vrt.close()
    self._source.close()


class ReferenceWater:
  """Occurrence (0-100 %) of a reference water raster on the scene's grid, window by window."""

  def __init__(self, path: str, grid: Grid, permanent_percent: float, scene: str = ""):
    self.permanent_percent = permanent_percent
    self.layer = WarpedLayer(path, grid, "reference water", scene=scene)

  def permanent(self, top: int, rows: int, width: int) -> np.ndarray:
    """bool [rows, width]: occurrence >= permanent_percent (no data: not permanent)."""
    threshold = self.permanent_percent
    return self.layer.mask(top, rows, width, lambda values: (values >= threshold) & (values <= 100))

  def close(self) -> None:
    self.layer.close()


class Exclusion:
  """Where the map abstains: an exclusion raster's nonzero pixels, and HAND above `hand_max_m`."""

  def __init__(
    self, grid: Grid, exclusion: str | None, hand: str | None, hand_max_m: float, scene: str = ""
  ):
    self.layers, self.hand_max_m = {}, hand_max_m
    try:
      if exclusion:
        self.layers["exclusion"] = WarpedLayer(exclusion, grid, "exclusion", scene=scene)
      if hand:
        self.layers["hand"] = WarpedLayer(hand, grid, "HAND", Resampling.bilinear, scene)
    except DataError:
      self.close()
      raise

  def excluded(self, top: int, rows: int, width: int) -> np.ndarray:
    """bool [rows, width]: excluded by any layer."""
    excluded = np.zeros((rows, width), bool)
    if "exclusion" in self.layers:
      nonzero = lambda values: (values != 0) & np.isfinite(values)  # noqa: E731
      excluded |= self.layers["exclusion"].mask(top, rows, width, nonzero)
    if "hand" in self.layers:  # NaN compares False: no data never excludes
      high = self.hand_max_m
      excluded |= self.layers["hand"].mask(top, rows, width, lambda values: values > high)
    return excluded

  def close(self) -> None:
    for layer in self.layers.values():
      layer.close()
