"""The synthetic generator against statistics measured on the real Sen1Floods11 chips."""

import numpy as np
import pytest

from flood_jax.dataset.realism import (
  REAL_MEDIAN_RANGES,
  class_pixels,
  median_ranges,
  overall_medians,
)


def test_recorded_ranges_are_those_of_the_real_chips(real_root):
  measured = median_ranges(class_pixels(real_root))
  for key, (low, high) in REAL_MEDIAN_RANGES.items():
    assert measured[key] == pytest.approx((low, high), abs=0.05), key


def test_synthetic_class_medians_fall_within_the_real_ranges(synthetic_root):
  medians = overall_medians(class_pixels(synthetic_root))
  for key, (low, high) in REAL_MEDIAN_RANGES.items():
    assert low <= medians[key] <= high, (
      f"synthetic {key} median {medians[key]:.1f} dB outside real [{low}, {high}]"
    )


def test_water_is_not_separable_by_a_single_threshold(synthetic_root):
  """Like the real chips, water and dry VV overlap: 'dark means water' is not the whole story."""
  pixels = class_pixels(synthetic_root)
  water, dry = np.concatenate(pixels["water"])[:, 0], np.concatenate(pixels["dry"])[:, 0]
  best_accuracy = max(
    (np.mean(water < threshold) * len(water) + np.mean(dry >= threshold) * len(dry))
    / (len(water) + len(dry))
    for threshold in np.arange(-25, -5, 0.5)
  )
  assert 0.75 < best_accuracy < 0.97
