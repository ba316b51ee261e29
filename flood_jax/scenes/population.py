"""People per pixel of a scene's grid from a population count raster (WorldPop, GHS-POP: people
per cell, any CRS and resolution), window by window, with counts conserved.

Counts are turned into people per m² of ground (each cell's geodesic or area-scale-corrected
area), warped onto the scene's grid with GDAL's average (each scene pixel the area-weighted mean
density of the cells it overlaps) and multiplied by the scene pixel's ground area: a cell's people
are shared among the scene pixels in proportion to the part of the cell each covers, whichever
grid is finer. No data, NaN and negative counts hold no people.
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from flood_jax.core.windows import column_blocks
from flood_jax.errors import DataError
from flood_jax.scenes.layers import open_layer, warn_partial_overlap
from flood_jax.scenes.scale import sample_band
from flood_jax.scenes.scene import Grid

MARGIN_CELLS = 2  # source cells read beyond a window's bounds, so its edge pixels see whole cells


def check_counts(source) -> None:
  """DataError naming the file unless it is one band of people counts (a scene of VV and VH in
  dB, say, gave "0 people"): one band, numbers, and not mostly negative."""
  if source.count != 1:
    raise DataError(
      f"{source.name}: a population raster is one band of people per cell; this one has "
      f"{source.count} bands"
    )
  if not np.issubdtype(np.dtype(source.dtypes[0]), np.number):
    raise DataError(f"{source.name}: a population raster holds numbers, not {source.dtypes[0]}")
  sample = sample_band(source, 1)  # a few windows, NaN no data
  valid = np.isfinite(sample)
  if valid.any() and np.mean(sample[valid] < 0) > 0.5:
    raise DataError(
      f"{source.name}: mostly negative values, which people counts cannot be (backscatter in dB?)"
    )


class Population:
  """People in each pixel of `grid`, read from the count raster at `path`."""

  def __init__(self, path: str, grid: Grid, scene: str = ""):
    self.path, self.grid = path, grid
    self._source, self.covered = open_layer(path, "population", grid)
    try:
      check_counts(self._source)
      if self.covered <= 0:
        raise DataError(f"{path}: the population raster does not overlap the scene")
    except DataError:
      self.close()
      raise
    warn_partial_overlap(path, "population", self.covered, scene)

  def _source_window(self, transform: Affine, rows: int, cols: int) -> Window | None:
    """The cells under a window of the scene's grid (and a margin), None if none."""
    target = Grid(self.grid.crs, transform, rows, cols)
    bounds = transform_bounds(self.grid.crs, self._source.crs, *target.bounds(), densify_pts=21)
    window = self._source.window(*bounds)
    top = max(math.floor(window.row_off) - MARGIN_CELLS, 0)
    left = max(math.floor(window.col_off) - MARGIN_CELLS, 0)
    bottom = min(math.ceil(window.row_off + window.height) + MARGIN_CELLS, self._source.height)
    right = min(math.ceil(window.col_off + window.width) + MARGIN_CELLS, self._source.width)
    if bottom <= top or right <= left:
      return None
    return Window(left, top, right - left, bottom - top)

  def _density(self, window: Window) -> tuple[np.ndarray, Affine]:
    """(people per m² of each cell in `window`, the window's transform)."""
    counts = self._source.read(1, window=window, out_dtype=np.float64)
    nodata = self._source.nodata
    empty = ~np.isfinite(counts) | (counts < 0)
    if nodata is not None:
      empty |= counts == nodata
    counts[empty] = 0.0
    transform = self._source.window_transform(window)
    cells = Grid(self._source.crs, transform, counts.shape[0], counts.shape[1])
    return counts / cells.row_areas_m2(0, counts.shape[0])[:, None], transform

  def _block(self, top: int, rows: int, left: int, cols: int, areas: np.ndarray) -> np.ndarray:
    """People in a block of the scene's grid; `areas`: its rows' pixel ground areas (m²)."""
    transform = self.grid.transform @ Affine.translation(left, top)
    people = np.zeros((rows, cols), np.float64)
    window = self._source_window(transform, rows, cols)
    if window is None:
      return people
    density, source_transform = self._density(window)
    reproject(
      density,
      people,
      src_transform=source_transform,
      src_crs=self._source.crs,
      dst_transform=transform,
      dst_crs=self.grid.crs,
      resampling=Resampling.average,
      src_nodata=None,
      dst_nodata=0.0,
    )
    return people * areas[:, None]

  def people(self, top: int, rows: int, left: int = 0, cols: int | None = None) -> np.ndarray:
    """float64 [rows, cols]: people in each pixel of the window, in blocks of columns."""
    cols = self.grid.width - left if cols is None else cols
    people = np.empty((rows, cols), np.float64)
    areas = self.grid.row_areas_m2(top, rows)  # once: a geodesic grid's is a loop over rows
    for block in column_blocks(cols):
      width = block.stop - block.start
      people[:, block] = self._block(top, rows, left + block.start, width, areas)
    return people

  def close(self) -> None:
    self._source.close()
