"""Change detection against a pre-event scene: flood water is water that was not there before.

A dark dry field, a sand sea or a radar shadow is as dark before the flood as after it, so a
pre-event scene of the same area removes exactly the false alarms that the backscatter of one
scene cannot (the Copernicus GFM ensemble runs change detection for the same reason). The model
maps both scenes; the drop is the fall of backscatter from before to after, in dB, of VV and VH
averaged, each the mean power of 3 x 3 pixels (speckle alone moves single pixels by dB). Where
the model saw water after:
- flood water (1) where it saw no water before and backscatter fell by at least
  `min_drop_db`, or where backscatter fell by at least `strong_drop_db` whatever it saw before
  (dark dry land before, taken for water, now under water);
- permanent water (2) where it saw water before too (and the fall was below `strong_drop_db`);
- dry (0) elsewhere: a surface as dark as before that the model took for dry land then.
Pixels without a pre-event value keep the single-scene class. Margins chosen on synthetic pairs
and pairs made from the real chips of ../shared (`python -m experiments.change_detection`, docs/results.md
"Change detection"): 0.5 / 2.0 dB kept omission within 0.017 of the single scene on both, where
0.5 / 3.0 lost 0.021-0.022, and cut commission to a fifteenth (synthetic) and a ninth (real).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from flood_jax.mapping.classes import DRY, PERMANENT_WATER, WATER


@dataclasses.dataclass(frozen=True)
class ChangeRule:
  min_drop_db: float = 0.5
  strong_drop_db: float = 2.0


def smoothed_db(db: np.ndarray, size: int = 3) -> np.ndarray:
  """[rows, cols] dB as the mean power of size x size pixels (NaN pixels left out; NaN where
  all are)."""
  finite = np.isfinite(db)
  power = np.where(finite, 10.0 ** (np.where(finite, db, 0.0) / 10.0), 0.0)
  total = ndimage.uniform_filter(power, size, mode="constant")
  count = ndimage.uniform_filter(finite.astype(np.float64), size, mode="constant")
  with np.errstate(divide="ignore", invalid="ignore"):
    mean = np.where(count > 0, total / np.maximum(count, 1e-12), np.nan)
    return (10.0 * np.log10(mean)).astype(np.float32)


def backscatter_drop(before_db: np.ndarray, after_db: np.ndarray) -> np.ndarray:
  """float32 [rows, cols]: before minus after (dB, VV and VH averaged, 3 x 3 smoothed) of
  [rows, cols, 2] VV, VH windows; NaN where either is missing."""
  drops = [smoothed_db(before_db[..., band]) - smoothed_db(after_db[..., band]) for band in (0, 1)]
  return (drops[0] + drops[1]) / 2


def change_classes(
  classes: np.ndarray,
  water_before: np.ndarray,
  drop_db: np.ndarray,
  rule: ChangeRule = ChangeRule(),
) -> np.ndarray:
  """uint8 classes (single-scene: 0 dry, 1 water, 255 no data) with water split by the change
  from before (module doc). water_before: bool [rows, cols]; drop_db: NaN where the pre-event
  scene has no value."""
  known = np.isfinite(drop_db)
  after = (classes == WATER) & known
  strong = drop_db >= rule.strong_drop_db  # NaN compares False
  flood = after & ((~water_before & (drop_db >= rule.min_drop_db)) | strong)
  permanent = after & water_before & ~strong
  changed = classes.copy()
  changed[after] = DRY
  changed[flood] = WATER
  changed[permanent] = PERMANENT_WATER
  return changed
