"""Classical baselines, scored with the same masked metrics as the model.

- Otsu thresholding of VV per chip (Otsu 1979): water where VV is below the threshold that
  maximises the between-class variance of the chip's valid VV values.
- A fixed threshold on VV (-15 dB by default), a common rule of thumb for open water.
"""

from __future__ import annotations

import numpy as np

FIXED_VV_THRESHOLD_DB = -15.0


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
  """Otsu's threshold of a sample (maximises the between-class variance); NaN if empty."""
  values = np.asarray(values, np.float64)
  values = values[np.isfinite(values)]
  if values.size == 0:
    return float("nan")
  histogram, edges = np.histogram(values, bins=bins)
  centres = (edges[:-1] + edges[1:]) / 2
  weight_low = np.cumsum(histogram)
  weight_high = weight_low[-1] - weight_low
  sum_low = np.cumsum(histogram * centres)
  mean_low = sum_low / np.maximum(weight_low, 1)
  mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
  between = weight_low * weight_high * (mean_low - mean_high) ** 2
  return float(edges[1:][np.argmax(between)])


def otsu_water(vv_db: np.ndarray, validity: np.ndarray) -> np.ndarray:
  """bool [H, W]: water where VV (dB) is below the chip's Otsu threshold over valid pixels."""
  threshold = otsu_threshold(vv_db[validity])
  if not np.isfinite(threshold):
    return np.zeros(vv_db.shape, bool)
  return np.where(validity, vv_db < threshold, False)


def fixed_threshold_water(
  vv_db: np.ndarray, validity: np.ndarray, threshold_db: float = FIXED_VV_THRESHOLD_DB
) -> np.ndarray:
  return np.where(validity, vv_db < threshold_db, False)
