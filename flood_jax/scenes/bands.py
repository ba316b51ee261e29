"""The three engineered input bands of the original notebook, as pure numpy.

band 1 = VV
band 2 = (VH - VV) / (VH + VV)
band 3 = sqrt((VH^2 + VV^2) / 2)

With `band_domain="db"` (the notebook's choice) the formulas are applied to the dB values as
read; with `band_domain="linear"` to linear power 10^(dB/10).

Defined values where the formulas break down, so that no inf or NaN ever reaches the model:
- band 2 is 0 where |VH + VV| < `RATIO_EPSILON[band_domain]`: 1 dB for dB values (this happens
  only where VV is about -VH, e.g. VV = +5 dB and VH = -5 dB on very bright targets; a smaller
  bound would let |band 2| reach millions and swamp the normalisation), 1e-12 for linear power
  (whose denominator is positive wherever data exists).
- every band is 0 where VV or VH is not finite. Such pixels are invalid (see `validity`),
  carry no gradient and count in no metric, so the value only has to be finite.
"""

from __future__ import annotations

import numpy as np

BAND_DOMAINS = ("db", "linear")
RATIO_EPSILON = {"db": 1.0, "linear": 1e-12}
NUM_BANDS = 3


def engineered_bands(vv_db: np.ndarray, vh_db: np.ndarray, band_domain: str = "db") -> np.ndarray:
  """Computes the three input bands from VV and VH backscatter.

  Args:
    vv_db: VV backscatter in dB, [..., H, W], NaN where there is no data.
    vh_db: VH backscatter in dB, same shape.
    band_domain: "db" applies the formulas to dB values, "linear" to linear power.

  Returns:
    float32 [..., H, W, 3], finite everywhere.
  """
  if band_domain not in BAND_DOMAINS:
    raise ValueError(f"band_domain must be one of {BAND_DOMAINS}, got {band_domain!r}")
  # float32 throughout, a pass per step (within a few units in the last place of float64's
  # results): prediction computes this for every window of a scene.
  finite = input_validity(vv_db, vh_db)
  vv = np.where(finite, np.asarray(vv_db, np.float32), np.float32(0.0))
  vh = np.where(finite, np.asarray(vh_db, np.float32), np.float32(0.0))
  if band_domain == "linear":
    vv = np.power(np.float32(10.0), vv / np.float32(10.0))
    vh = np.power(np.float32(10.0), vh / np.float32(10.0))
  bands = np.empty((*vv.shape, NUM_BANDS), np.float32)
  bands[..., 0] = vv
  denominator = vh + vv
  safe = np.abs(denominator) >= RATIO_EPSILON[band_domain]
  bands[..., 1] = np.divide(vh - vv, denominator, out=np.zeros_like(vv), where=safe)
  np.multiply(vv, vv, out=vv)
  np.multiply(vh, vh, out=vh)
  bands[..., 2] = np.sqrt((vv + vh) / np.float32(2.0))
  if not finite.all():
    bands[~finite] = 0.0
  return bands


def input_validity(vv_db: np.ndarray, vh_db: np.ndarray) -> np.ndarray:
  """bool [..., H, W]: True where both VV and VH are finite."""
  return np.isfinite(vv_db) & np.isfinite(vh_db)


def normalised_bands(
  vv_vh_db: np.ndarray, validity: np.ndarray, stats: dict, band_domain: str
) -> np.ndarray:
  """float32 [..., 3]: the engineered bands of VV, VH in dB, normalised by `stats`, 0 where
  `validity` is False. Zeroing makes the model input independent of whatever the raw data
  holds at invalid pixels. Training (`prepare`) and prediction share it."""
  image = engineered_bands(vv_vh_db[..., 0], vv_vh_db[..., 1], band_domain)
  image -= np.asarray(stats["mean"], np.float32)
  image /= np.asarray(stats["std"], np.float32)
  image[~validity] = 0.0
  return image
