"""GeoTIFF reading and checking for Sen1Floods11 chips: the only place that opens chip files.

`read_chip` returns the engineered bands, the label and the validity mask of one chip, after
checking that the files are what the official layout promises. Every problem raises
`DataError` naming the file and what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from flood_jax.errors import DataError
from flood_jax.scenes.bands import engineered_bands, input_validity

# Georeferencing of an image and its label may differ by float noise (real chips differ in the
# 13th significant digit); anything below this fraction of a pixel counts as equal.
GEOREFERENCE_TOLERANCE_PIXELS = 1e-3
LABEL_KINDS = ("hand", "weak")
HAND_LABEL_VALUES = (-1, 0, 1)
WEAK_INVALID_VALUES = (-1, 255)


class Chip(NamedTuple):
  """One chip ready for tiling.

  image: float32 [H, W, 3], the engineered bands (not normalised), 0 where input is missing.
  label: uint8 [H, W], 1 water, 0 otherwise (also 0 where invalid).
  validity: bool [H, W], label is 0 or 1 and VV and VH are finite.
  vv_vh_db: float32 [H, W, 2], VV and VH in dB as read, NaN where missing.
  """

  image: np.ndarray
  label: np.ndarray
  validity: np.ndarray
  vv_vh_db: np.ndarray


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
    values[:, first_row - top : last_row - top, first_col - left : last_col - left] = dataset.read(
      bands, window=inside, out_dtype=dtype
    )
  return values


def check_s1_header(header: RasterHeader) -> None:
  """Sentinel-1 images must have 2 float bands: VV then VH in dB."""
  if header.count != 2:
    raise DataError(
      f"{header.path}: expected 2 bands (VV, VH in dB), found {header.count}; "
      "is this a Sentinel-1 S1Hand/S1Weak file?"
    )
  if not all(np.issubdtype(np.dtype(dtype), np.floating) for dtype in header.dtypes):
    raise DataError(f"{header.path}: expected float bands (dB), found {header.dtypes}")


def check_label_header(header: RasterHeader) -> None:
  if header.count != 1:
    raise DataError(f"{header.path}: expected 1 label band, found {header.count}")
  if not np.issubdtype(np.dtype(header.dtypes[0]), np.integer):
    raise DataError(f"{header.path}: expected an integer label band, found {header.dtypes[0]}")


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


def check_pair(s1: RasterHeader, label: RasterHeader) -> None:
  check_s1_header(s1)
  check_label_header(label)
  mismatch = georeference_mismatch(s1, label)
  if mismatch:
    raise DataError(f"{label.path}: does not match its image {s1.path.name}: {mismatch}")


def _read(path: Path) -> np.ndarray:
  try:
    with rasterio.open(path) as dataset:
      return dataset.read()
  except RasterioIOError as error:
    raise DataError(f"{path}: cannot read pixels, the file may be truncated ({error})") from None


def read_permanent_water(path: Path) -> np.ndarray:
  """bool [H, W]: JRC's permanent water (1) of a JRCWaterHand layer (other values: not)."""
  return _read(path)[0] == 1


def label_validity(raw: np.ndarray, kind: str, nodata: float | None, path: Path) -> np.ndarray:
  """Checks label values and returns bool [H, W], True where the label is 0 or 1.

  Hand labels must be in {-1, 0, 1}. Weak (Otsu) labels must be 0 or 1, or a no-data value
  (-1, 255 or the file's nodata tag), which counts as invalid.
  """
  if kind not in LABEL_KINDS:
    raise ValueError(f"label kind must be one of {LABEL_KINDS}, got {kind!r}")
  allowed = set(HAND_LABEL_VALUES)
  if kind == "weak":
    allowed |= set(WEAK_INVALID_VALUES) | ({int(nodata)} if nodata is not None else set())
  values = np.unique(raw)
  unexpected = [int(value) for value in values if int(value) not in allowed]
  if unexpected:
    raise DataError(
      f"{path}: {kind} label has values {unexpected[:5]} outside {sorted(allowed)}; "
      "labels must be 1 water, 0 not water, or a no-data value"
    )
  return (raw == 0) | (raw == 1)


def read_s1(path: str | Path) -> np.ndarray:
  """float32 [H, W, 2]: VV and VH in dB, NaN where missing (nodata tags become NaN)."""
  header = open_header(path)
  check_s1_header(header)
  return backscatter_hwc(_read(header.path), header.nodata)


def backscatter_hwc(bands: np.ndarray, nodata: float | None) -> np.ndarray:
  """[2, H, W] bands as read -> float32 [H, W, 2], with a finite nodata tag turned into NaN."""
  bands = bands.astype(np.float32)
  if nodata is not None and np.isfinite(nodata):
    bands[bands == nodata] = np.nan
  return np.moveaxis(bands, 0, -1)


def read_chip(
  s1_path: str | Path,
  label_path: str | Path,
  band_domain: str = "db",
  label_kind: str = "hand",
) -> Chip:
  """Reads one chip: engineered bands, binary label and validity mask.

  Args:
    s1_path: 2-band float GeoTIFF, VV then VH in dB, NaN where there is no data.
    label_path: 1-band integer GeoTIFF on the same grid.
    band_domain: "db" or "linear", see `flood_jax.scenes.bands`.
    label_kind: "hand" (values -1, 0, 1) or "weak" (0, 1 or no data).

  Returns:
    A `Chip`. Raises `DataError` naming the file if anything is malformed.
  """
  s1_header, label_header = open_header(s1_path), open_header(label_path)
  check_pair(s1_header, label_header)
  vv_vh_db = read_s1(s1_path)
  raw_label = _read(label_header.path)[0]
  validity = label_validity(raw_label, label_kind, label_header.nodata, label_header.path)
  validity &= input_validity(vv_vh_db[..., 0], vv_vh_db[..., 1])
  image = engineered_bands(vv_vh_db[..., 0], vv_vh_db[..., 1], band_domain)
  label = ((raw_label == 1) & validity).astype(np.uint8)
  return Chip(image, label, validity, vv_vh_db)
