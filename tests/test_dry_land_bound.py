"""The upper bound of single-scene backscatter rules (experiments.dry_land_bound)."""

import numpy as np
import pytest

from experiments.dry_land_bound import best_under, cap_floor, cells, lookup_curve, window_mean_db


def _plane(water_vv, dry_vv, rng):
  water = np.concatenate([np.ones(water_vv.size, bool), np.zeros(dry_vv.size, bool)])
  vv = np.concatenate([water_vv, dry_vv])
  vh = vv - 7.0 + rng.normal(0, 0.1, vv.size)
  return np.stack([vv, vh], -1), water


def test_separable_backscatter_reaches_no_error():
  rng = np.random.default_rng(0)
  values, water = _plane(rng.uniform(-25, -18, 500), rng.uniform(-10, -4, 2000), rng)
  omission, commission = lookup_curve(cells(values), water)
  iou, best_omission, best_commission, at_limit = best_under(omission, commission)
  assert (iou, best_omission, best_commission, at_limit) == (1.0, 0.0, 0.0, 0.0)


def test_backscatter_that_cannot_tell_water_gives_the_diagonal():
  rng = np.random.default_rng(1)
  values, water = _plane(rng.uniform(-12, -6, 20_000), rng.uniform(-12, -6, 20_000), rng)
  omission, commission = lookup_curve(cells(values), water)
  assert np.all(np.diff(omission) <= 0) and np.all(np.diff(commission) >= 0)
  assert np.abs((1.0 - omission) - commission).max() < 0.1
  _, _, _, at_limit = best_under(omission, commission)
  assert at_limit > 0.85


def test_cap_floor_is_the_share_of_water_brighter_than_the_cap():
  vv = np.array([-20.0, -12.0, -10.0, -9.0, -5.0])
  water = np.array([True, True, True, False, True])
  assert cap_floor(vv, water, -11.0) == pytest.approx(0.5)


def test_window_mean_ignores_invalid_pixels():
  image = np.full((9, 9, 2), -15.0)
  image[4, 4] = (30.0, 30.0)
  validity = np.ones((9, 9), bool)
  validity[4, 4] = False
  means = window_mean_db(image, validity, 3)
  np.testing.assert_allclose(means[validity], -15.0, atol=1e-9)
