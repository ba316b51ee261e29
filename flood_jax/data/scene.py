"""Windowed GeoTIFF I/O for whole Sentinel-1 scenes: read strips, write a Cloud Optimized GeoTIFF.

Memory stays bounded by one strip of windows (tile size x scene width), whatever the scene's
height; outputs are written under a temporary name and renamed only when complete.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from flood_jax.data.geotiff import backscatter_hwc, check_s1_header, open_header
from flood_jax.errors import DataError

FLOOD_NODATA = 255
# GDAL's block cache defaults to 5% of RAM: written blocks and the COG driver's overview pass
# accumulate there, so memory would grow with the scene. Scene I/O runs under this cap.
GDAL_CACHE_MB = 128


def bounded_gdal_cache() -> rasterio.Env:
  """Context for scene I/O with GDAL's block cache capped at GDAL_CACHE_MB."""
  return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB)


class SceneReader:
  """Reads [rows, W, 2] strips of VV and VH in dB from a 2-band GeoTIFF, NaN where missing."""

  def __init__(self, path: str | Path):
    self.header = open_header(path)
    check_s1_header(self.header)
    self.path = Path(path)
    self._dataset = rasterio.open(self.path)
    self.height, self.width = self._dataset.height, self._dataset.width
    self.profile = self._dataset.profile

  def read_rows(self, top: int, rows: int) -> np.ndarray:
    """float32 [rows, W, 2]; rows beyond the scene are NaN."""
    window = Window(0, top, self.width, rows)
    data = self._dataset.read(window=window, boundless=True, fill_value=np.nan)
    return backscatter_hwc(data, self._dataset.nodata)

  def close(self) -> None:
    self._dataset.close()


def check_output_path(path: str | Path) -> Path:
  path = Path(path)
  if not path.parent.is_dir():
    raise DataError(f"{path}: output folder {path.parent} does not exist; create it first")
  try:  # a probe, since permission bits say nothing about read-only file systems or root
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".flood_jax_probe"):
      pass
  except OSError as error:
    raise DataError(
      f"{path}: output folder {path.parent} is not writable ({error.strerror})"
    ) from None
  return path


class StripWriter:
  """Writes strips into a tiled GeoTIFF, then `finish()` converts it to a COG at `path`."""

  def __init__(self, path: Path, reference_profile: dict, dtype: str, nodata):
    self.path = path
    self.partial = path.with_name(f".{path.name}.strips.partial")
    profile = {
      "driver": "GTiff",
      "height": reference_profile["height"],
      "width": reference_profile["width"],
      "count": 1,
      "dtype": dtype,
      "crs": reference_profile["crs"],
      "transform": reference_profile["transform"],
      "nodata": nodata,
      "tiled": True,
      "blockxsize": 512,
      "blockysize": 512,
      "compress": "deflate",
      "BIGTIFF": "IF_SAFER",
    }
    self._dataset = rasterio.open(self.partial, "w", **profile)

  def write_rows(self, top: int, rows: np.ndarray) -> None:
    self._dataset.write(rows[None], window=Window(0, top, rows.shape[1], rows.shape[0]))

  def finish(self) -> None:
    self._dataset.close()
    cog = self.path.with_name(f".{self.path.name}.cog.partial")
    rasterio.shutil.copy(self.partial, cog, driver="COG", compress="DEFLATE", BIGTIFF="IF_SAFER")
    cog.replace(self.path)
    self.partial.unlink()

  def abort(self) -> None:
    self._dataset.close()
    for leftover in (self.partial, self.path.with_name(f".{self.path.name}.cog.partial")):
      leftover.unlink(missing_ok=True)
