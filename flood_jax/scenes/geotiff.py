"""Raster reading for every layer and scene: headers, windows that may pass the raster's edges,
and grids compared with a tolerance. Every problem raises `DataError` naming the file and what
is wrong. (Chips of a dataset are read in `flood_jax.dataset`.)"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from flood_jax.errors import DataError

# Georeferencing of an image and its label may differ by float noise (real chips differ in the
# 13th significant digit); anything below this fraction of a pixel counts as equal.
GEOREFERENCE_TOLERANCE_PIXELS = 1e-3


class RasterHeader(NamedTuple):
  path: Path
  count: int
  dtypes: tuple[str, ...]
  height: int
  width: int
  crs: object
  transform: object
  nodata: float | None


def open_header(path: str | Path) -> RasterHeader:
  """Reads a raster's header only (cheap); raises DataError if it is missing or not a raster."""
  path = Path(path)
  if not path.exists():
    raise DataError(f"{path}: file not found")
  try:
    with rasterio.open(path) as dataset:
      return RasterHeader(
        path,
        dataset.count,
        tuple(dataset.dtypes),
        dataset.height,
        dataset.width,
        dataset.crs,
        dataset.transform,
        dataset.nodata,
      )
  except RasterioIOError as error:
    raise DataError(f"{path}: not a readable GeoTIFF ({error})") from None


def open_raster(path: str):
  """A raster GDAL can open (any GDAL path: /vsizip/, /vsicurl/); DataError naming it if not."""
  try:
    return rasterio.open(path)
  except RasterioIOError as error:
    raise DataError(f"{path}: not a raster GDAL can read ({error})") from None


def read_window(dataset, bands: list[int], window, fill_value, dtype=np.float32) -> np.ndarray:
  """[len(bands), rows, cols] of `dataset` in `window` (a rasterio Window that may pass the
  raster's edges), `fill_value` beyond them. One read of the part inside: rasterio's boundless
  reads go through a warped VRT, about 3x slower, and a read per band decodes the blocks of a
  pixel-interleaved file twice."""
  top, left = int(window.row_off), int(window.col_off)
  rows, cols = int(window.height), int(window.width)
  values = np.full((len(bands), rows, cols), fill_value, dtype)
  first_row, last_row = max(top, 0), min(top + rows, dataset.height)
  first_col, last_col = max(left, 0), min(left + cols, dataset.width)
  if last_row > first_row and last_col > first_col:
    inside = Window(first_col, first_row, last_col - first_col, last_row - first_row)
    try:
      read = dataset.read(bands, window=inside, out_dtype=dtype)
    except RasterioIOError:  # a truncated file keeps its header, not its last blocks
      raise DataError(f"{dataset.name}: cannot read pixels, the file may be truncated") from None
    values[:, first_row - top : last_row - top, first_col - left : last_col - left] = read
  return values


def georeference_mismatch(first: RasterHeader, second: RasterHeader) -> str | None:
  """Says how two rasters' grids differ, or None if they agree within the tolerance."""
  if (first.height, first.width) != (second.height, second.width):
    return f"size {first.height}x{first.width} against {second.height}x{second.width}"
  if first.crs != second.crs:
    return f"CRS {first.crs} against {second.crs}"
  pixel = max(abs(first.transform.a), abs(first.transform.e), 1e-30)
  difference = np.abs(np.asarray(first.transform)[:6] - np.asarray(second.transform)[:6])
  # Offsets (c, f) compare in pixels; the scale terms (a, b, d, e) over the whole raster.
  extent = max(first.height, first.width)
  scaled = difference * np.array([extent, extent, 1, extent, extent, 1]) / pixel
  if np.any(scaled > GEOREFERENCE_TOLERANCE_PIXELS):
    return f"transform {tuple(first.transform)[:6]} against {tuple(second.transform)[:6]}"
  return None


def check_same_grid(vv, others: dict[str, object]) -> None:
  """DataError naming the file when any of `others` ({what it is: open dataset or None}) is not
  on the grid of the open VV dataset `vv`: nothing is resampled silently."""
  for name, other in others.items():
    mismatch = other is not None and georeference_mismatch(vv, other)
    if mismatch:
      raise DataError(
        f"{other.name}: {name} is not on VV's grid ({mismatch}); no resampling "
        f"is done silently: warp it onto {vv.name} first"
      )
