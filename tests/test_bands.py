import numpy as np
import pytest

from flood_jax.scenes.bands import engineered_bands


def test_db_bands_follow_the_formulas():
  vv = np.array([[-10.0, -20.0]])
  vh = np.array([[-17.0, -28.0]])
  bands = engineered_bands(vv, vh, "db")
  np.testing.assert_allclose(bands[..., 0], vv, rtol=1e-6)
  np.testing.assert_allclose(bands[..., 1], (vh - vv) / (vh + vv), rtol=1e-6)
  np.testing.assert_allclose(bands[..., 2], np.sqrt((vh**2 + vv**2) / 2), rtol=1e-6)


def test_linear_bands_use_power():
  vv, vh = np.array([[-10.0]]), np.array([[-20.0]])
  bands = engineered_bands(vv, vh, "linear")
  vv_power, vh_power = 0.1, 0.01
  np.testing.assert_allclose(bands[0, 0], [
    vv_power,
    (vh_power - vv_power) / (vh_power + vv_power),
    np.sqrt((vh_power**2 + vv_power**2) / 2),
  ], rtol=1e-5)  # fmt: skip


def test_zero_denominator_and_missing_input_give_finite_defined_values():
  vv = np.array([[5.0, np.nan, 0.0, 3.0]])
  vh = np.array([[-5.0, -10.0, 0.0, np.inf]])
  for domain in ("db", "linear"):
    bands = engineered_bands(vv, vh, domain)
    assert np.isfinite(bands).all()
  bands = engineered_bands(vv, vh, "db")
  assert bands[0, 0, 1] == 0.0  # VV = -VH: ratio defined as 0
  assert bands[0, 2, 1] == 0.0  # both zero
  np.testing.assert_array_equal(bands[0, 1], 0.0)  # NaN input: every band 0
  np.testing.assert_array_equal(bands[0, 3], 0.0)


def test_unknown_domain_is_refused():
  with pytest.raises(ValueError, match="band_domain"):
    engineered_bands(np.zeros((1, 1)), np.zeros((1, 1)), "log")
