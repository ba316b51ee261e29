"""Is a Sentinel-1 raster in dB, power or amplitude? Decided from metadata, else from values.

dB = 10 log10(power) = 20 log10(amplitude). A power file read as dB gives a meaningless map with
no error, so when neither the product name nor the metadata says, the values decide, and only
when one reading of them is plausible: calibrated Sentinel-1 backscatter over a scene has a VV
median between -22 and -3 dB, and VV 4.5-11.5 dB above VH (the real Sen1Floods11 chips: dry land
-9.1 dB with a 7.0 dB gap, water -13.3 dB with 8.4; squaring amplitudes doubles the gap, taking
square roots halves it). Values that are mostly negative cannot be power or amplitude, so they
are dB whatever their median: a scene that is nearly all water has a VV median below -22 dB, and
it is the scene a responder most needs mapped. For the same reason, where no reading fits a
positive scene (power or amplitude of mostly water), the median's range is widened to that of
open water (down to -32 dB) and the VV - VH gap decides. Where both power and amplitude fit (a
VV - VH gap of 4.5-5.75 dB fits doubled too), power is read: the products that do not name
their scale are power (Planetary Computer, OPERA; HyP3 names it). Where none or several other
readings fit, the user is asked for --scale.
"""

from __future__ import annotations

import re

import numpy as np
from rasterio.windows import Window

SCALES = ("db", "power", "amplitude")
PLAUSIBLE_VV_MEDIAN_DB = (-22.0, -3.0)
WATER_VV_MEDIAN_DB = (-32.0, -3.0)  # tried when no reading fits: scenes of mostly open water
PLAUSIBLE_GAP_DB = (4.5, 11.5)
NEGATIVE_SHARE = 0.5  # above this share of negative valid values in both bands: dB
SAMPLE_SIDE = 512
SAMPLE_WINDOWS = 8  # windows per side when a large band without overviews is sampled
FILL_VALUE = -32768  # Planetary Computer's no data
_WORDS = {
  "db": r"\b(db|decibels?)\b",
  "amplitude": r"\bamplitude\b",
  "power": r"\b(power|linear)\b",
}


def decide_from_text(dataset, band: int) -> tuple[str, str] | None:
  """(scale, reason) from the band's units or description, or tags that name a scale."""
  texts = [dataset.units[band - 1] or "", dataset.descriptions[band - 1] or ""]
  for tags in (dataset.tags(), dataset.tags(band)):
    texts += [value for key, value in tags.items() if re.search("scale|unit", key, re.I)]
  text = " ".join(texts).lower()
  for scale, pattern in _WORDS.items():
    if re.search(pattern, text):
      return scale, f"metadata of {dataset.name} says {scale!r} ({' '.join(text.split())[:60]})"
  return None


def sample_band(dataset, band: int) -> np.ndarray:
  """About SAMPLE_SIDE² values of the band, no data as NaN: the whole band when it is that
  small, a decimated read where GDAL has overviews, else a grid of SAMPLE_WINDOWS² small
  windows. A decimated read without overviews would pass every block of the scene through
  GDAL's block cache (5% of RAM by default), so memory would grow with the scene."""
  from rasterio.errors import RasterioIOError

  from flood_jax.errors import DataError

  try:
    values = _sampled_values(dataset, band)
  except RasterioIOError:  # a truncated file keeps its header, not its last blocks
    raise DataError(f"{dataset.name}: cannot read pixels, the file may be truncated") from None
  values = values.astype(np.float64)
  values[~np.isfinite(values)] = np.nan
  return mark_nodata(values, dataset.nodatavals[band - 1])


def _sampled_values(dataset, band: int) -> np.ndarray:
  side = SAMPLE_SIDE // SAMPLE_WINDOWS
  if dataset.height * dataset.width <= SAMPLE_SIDE**2:
    return dataset.read(band)
  if dataset.overviews(band):
    shape = (min(dataset.height, SAMPLE_SIDE), min(dataset.width, SAMPLE_SIDE))
    return dataset.read(band, out_shape=shape)
  tops = np.linspace(0, max(dataset.height - side, 0), SAMPLE_WINDOWS).astype(int)
  lefts = np.linspace(0, max(dataset.width - side, 0), SAMPLE_WINDOWS).astype(int)
  return np.concatenate([
    dataset.read(band, window=Window(left, top, side, side)).ravel()
    for top in tops for left in lefts
  ])  # fmt: skip


def mark_nodata(values: np.ndarray, nodata: float | None) -> np.ndarray:
  """Float `values` with the file's nodata tag and the -32768 fill (Planetary Computer) set to
  NaN, in place; returns them."""
  invalid = values == FILL_VALUE
  if nodata is not None and np.isfinite(nodata):
    invalid |= values == nodata
  values[invalid] = np.nan
  return values


def to_db(values: np.ndarray, scale: str) -> np.ndarray:
  """dB from values in `scale` (a new array of the same float dtype; dB values are returned as
  they are); power and amplitude <= 0 are no data (NaN). One copy, computed in place."""
  if scale == "db":
    return values
  result = np.array(values, dtype=np.result_type(values.dtype, np.float32))
  result[~(result > 0)] = np.nan
  np.log10(result, out=result)
  result *= 10.0 if scale == "power" else 20.0
  return result


def plausible_readings(
  vv: np.ndarray, vh: np.ndarray, median_range: tuple[float, float] = PLAUSIBLE_VV_MEDIAN_DB
) -> dict[str, tuple[float, float]]:
  """{scale: (VV median dB, VV - VH median dB)} of the readings that look like Sentinel-1: VV
  median within `median_range` and the gap within PLAUSIBLE_GAP_DB."""
  readings = {}
  for scale in SCALES:
    seen = reading(vv, vh, scale)
    if seen and _plausible(*seen, median_range):
      readings[scale] = seen
  return readings


def reading(vv: np.ndarray, vh: np.ndarray, scale: str) -> tuple[float, float] | None:
  """(VV median dB, VV - VH median dB) of the values read in `scale`; None under 100 pixels."""
  vv_db, vh_db = to_db(vv, scale), to_db(vh, scale)
  both = np.isfinite(vv_db) & np.isfinite(vh_db)
  if scale == "db":
    both &= (vv != 0) | (vh != 0)  # zero-filled borders
  if both.sum() < 100:
    return None
  return float(np.median(vv_db[both])), float(np.median(vv_db[both] - vh_db[both]))


def _plausible(median: float, gap: float, median_range=WATER_VV_MEDIAN_DB) -> bool:
  low, high = median_range
  return low <= median <= high and PLAUSIBLE_GAP_DB[0] <= gap <= PLAUSIBLE_GAP_DB[1]


def _seen(median: float, gap: float) -> str:
  swapped = " (VV below VH: are the bands swapped?)" if gap < 0 else ""
  return f"VV median {median:.1f} dB, {gap:.1f} dB above VH{swapped}"


def _judged(vv: np.ndarray, vh: np.ndarray):
  """(VV, VH, valid in both, share of negative valid values) of two samples (float64, NaN no
  data); zeros are filled borders, not values; the share is None where no pixel is valid."""
  both = np.isfinite(vv) & np.isfinite(vh) & ((vv != 0) | (vh != 0))
  if not both.any():
    return vv, vh, both, None
  return vv, vh, both, min(float(np.mean(vv[both] < 0)), float(np.mean(vh[both] < 0)))


def samples(values: np.ndarray, nodata: float | None = None) -> np.ndarray:
  """float64 values of an array to judge (at most about SAMPLE_SIDE² of them, evenly strided),
  NaN where not finite or no data."""
  values = np.asarray(values)
  step = max(int(np.ceil(np.sqrt(values.size / SAMPLE_SIDE**2))), 1)
  strided = values[tuple(slice(None, None, step) for _ in range(values.ndim))]
  strided = np.array(strided, np.float64)
  strided[~np.isfinite(strided)] = np.nan
  return mark_nodata(strided, nodata)


def check_forced_scale(scale: str, vv_dataset, vv_band: int, vh_dataset, vh_band: int):
  """DataError, naming what was seen, where the values cannot be Sentinel-1 read in `scale`
  (the plausibility rules of the automatic decision, the wide VV range of mostly-water scenes);
  the user may insist with --trust_scale. The error names the VV file."""
  vv, vh = sample_band(vv_dataset, vv_band), sample_band(vh_dataset, vh_band)
  check_forced_samples(scale, vv, vh, vv_dataset.name)


def check_forced_samples(scale: str, vv: np.ndarray, vh: np.ndarray, name: str) -> None:
  """`check_forced_scale` of two samples (`samples`); the error names `name`."""
  from flood_jax.errors import DataError

  vv, vh, _, negative = _judged(vv, vh)
  if scale != "db" and negative is not None and negative > NEGATIVE_SHARE:
    raise DataError(
      f"{name}: --scale={scale}, but {negative:.0%} of the valid values are negative, which "
      f"{scale} cannot be (they look like dB: --scale=db or auto); pass --trust_scale to map "
      "them anyway"
    )
  seen = reading(vv, vh, scale)
  if seen is None:  # too few valid values to judge (or none: the map is no data)
    return
  if _plausible(*seen):
    return
  fits = [other for other, values in plausible_readings(vv, vh).items() if other != scale]
  hint = f"; the values read as {' or '.join(fits)}" if fits else ""
  raise DataError(
    f"{name}: --scale={scale} reads the values as {_seen(*seen)}, which Sentinel-1 VV and VH "
    f"never are (VV median {WATER_VV_MEDIAN_DB[0]:g} to {WATER_VV_MEDIAN_DB[1]:g} dB, "
    f"{PLAUSIBLE_GAP_DB[0]:g}-{PLAUSIBLE_GAP_DB[1]:g} dB above VH){hint}; pass --trust_scale to "
    "map them anyway"
  )


def decide_from_values(vv_dataset, vv_band: int, vh_dataset, vh_band: int, name: str):
  """(scale, reason) when exactly one reading of the bands' values is plausible; else
  DataError."""
  return decide_from_samples(
    sample_band(vv_dataset, vv_band), sample_band(vh_dataset, vh_band), name
  )


def decide_from_samples(vv: np.ndarray, vh: np.ndarray, name: str):
  """`decide_from_values` of two samples (`samples`: float64, NaN no data); errors name `name`."""
  from flood_jax.errors import DataError

  vv, vh, both, negative = _judged(vv, vh)
  if negative is None:  # every value no data: the map will be too
    return "db", "no valid value in the sampled pixels (no data everywhere)"
  if negative > NEGATIVE_SHARE:
    median = float(np.median(vv[both]))
    return "db", (
      f"values: {negative:.0%} of valid values negative (power and amplitude cannot be), read "
      f"as db, VV median {median:.1f} dB"
    )
  readings, note = plausible_readings(vv, vh), ""
  if not readings:
    readings, note = plausible_readings(vv, vh, WATER_VV_MEDIAN_DB), " (a scene of mostly water)"
  if set(readings) == {"power", "amplitude"}:  # squaring doubles a gap of 4.5-5.75 dB into range
    readings.pop("amplitude")
    note += " (amplitude fits too; products that do not name their scale are power)"
  if len(readings) == 1:
    ((scale, (median, gap)),) = readings.items()
    return scale, (
      f"values: read as {scale}, VV median {median:.1f} dB, {gap:.1f} dB above VH{note}"
    )
  if readings:  # advise only the scales the values allow
    advice = " or ".join(f"--scale={scale}" for scale in readings)
    raise DataError(
      f"{name}: cannot tell whether the values are {' or '.join(readings)} (both fit "
      f"Sentinel-1); pass {advice}"
    )
  seen = {scale: reading(vv, vh, scale) for scale in SCALES}
  described = "; ".join(f"as {scale}: {_seen(*values)}" for scale, values in seen.items() if values)
  raise DataError(
    f"{name}: no reading of the values looks like Sentinel-1 VV and VH ({described}); check "
    "the bands, or pass --scale with --trust_scale if you know their scale"
  )


def arrays_in_db(vv, vh, scale: str = "auto", trust_scale: bool = False, name: str = "VV array"):
  """(VV dB, VH dB, scale, reason) of two arrays of backscatter, their scale decided as for a
  file (`decide_from_samples`) or `scale` checked against their values unless `trust_scale`;
  no data (NaN, -32768, power or amplitude <= 0) NaN. DataError naming `name` where the values
  are not backscatter (bool, text, complex) or no reading of them is Sentinel-1's."""
  from flood_jax.errors import DataError, UsageError

  if scale != "auto" and scale not in SCALES:
    raise UsageError(f"scale={scale!r}: choose auto, {', '.join(SCALES)}")
  for band, array in (("VV", vv), ("VH", vh)):
    kind = np.asarray(array).dtype
    if kind == np.bool_ or not np.issubdtype(kind, np.integer) | np.issubdtype(kind, np.floating):
      raise DataError(f"{band} array: {kind} values; expected backscatter (dB, power or amplitude)")
  vv_sample, vh_sample = samples(vv), samples(vh)
  if scale == "auto":
    scale, reason = decide_from_samples(vv_sample, vh_sample, name)
  elif trust_scale:
    reason = f"scale={scale}, trusted"
  else:
    check_forced_samples(scale, vv_sample, vh_sample, name)
    reason = f"scale={scale}"
  converted = [to_db(mark_nodata(np.array(array, np.float32), None), scale) for array in (vv, vh)]
  return converted[0], converted[1], scale, reason
