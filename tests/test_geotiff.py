"""read_chip on real and synthetic files, every malformed input it must refuse, and windows
that pass a raster's edges."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from flood_jax.dataset.sen1floods11 import read_chip
from flood_jax.errors import DataError
from flood_jax.scenes.geotiff import read_window


def write(path: Path, array: np.ndarray, dtype: str, crs="EPSG:32633", transform=None, nodata=None):
  bands = array[None] if array.ndim == 2 else array
  transform = transform or from_origin(500000, 4000000, 10, 10)
  with rasterio.open(
    path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2], count=bands.shape[0],
    dtype=dtype, crs=crs, transform=transform, nodata=nodata,
  ) as dataset:  # fmt: skip
    dataset.write(bands.astype(dtype))
  return path


@pytest.fixture
def pair(tmp_path):
  rng = np.random.default_rng(0)
  s1 = rng.uniform(-25, -5, (2, 16, 16)).astype(np.float32)
  s1[:, 0, 0] = np.nan
  label = rng.integers(-1, 2, (16, 16)).astype(np.int16)
  return (
    write(tmp_path / "a_S1Hand.tif", s1, "float32"),
    write(tmp_path / "a_LabelHand.tif", label, "int16"),
    s1,
    label,
  )


def test_read_chip_bands_label_validity(pair):
  s1_path, label_path, s1, label = pair
  chip = read_chip(s1_path, label_path)
  vv, vh = s1
  assert chip.image.shape == (16, 16, 3) and chip.image.dtype == np.float32
  expected_validity = (label >= 0) & np.isfinite(vv) & np.isfinite(vh)
  np.testing.assert_array_equal(chip.validity, expected_validity)
  np.testing.assert_array_equal(chip.label, ((label == 1) & expected_validity).astype(np.uint8))
  valid = expected_validity
  np.testing.assert_allclose(chip.image[..., 0][valid], vv[valid], rtol=1e-6)
  np.testing.assert_allclose(chip.image[..., 1][valid], ((vh - vv) / (vh + vv))[valid], rtol=1e-5)
  assert np.isfinite(chip.image).all()


def test_read_chip_on_real_chips(real_root):
  hand = real_root / "data/flood_events/HandLabeled"
  for s1_path in sorted((hand / "S1Hand").glob("*.tif")):
    chip_id = s1_path.name.replace("_S1Hand.tif", "")
    chip = read_chip(s1_path, hand / "LabelHand" / f"{chip_id}_LabelHand.tif")
    with rasterio.open(s1_path) as dataset:
      vv, vh = dataset.read().astype(np.float64)
    with rasterio.open(hand / "LabelHand" / f"{chip_id}_LabelHand.tif") as dataset:
      raw_label = dataset.read(1)
    finite = np.isfinite(vv) & np.isfinite(vh)
    np.testing.assert_array_equal(chip.validity, (raw_label >= 0) & finite)
    assert not chip.validity[raw_label == -1].any()
    assert not chip.validity[~finite].any()
    valid = chip.validity
    np.testing.assert_allclose(chip.image[..., 0][valid], vv[valid], rtol=1e-6)
    safe = valid & (np.abs(vh + vv) >= 1.0)
    np.testing.assert_allclose(chip.image[..., 1][safe], ((vh - vv) / (vh + vv))[safe], rtol=1e-5)
    np.testing.assert_allclose(
      chip.image[..., 2][valid], np.sqrt((vh**2 + vv**2) / 2)[valid], rtol=1e-5
    )
    assert np.isfinite(chip.image).all()
  paraguay = read_chip(
    hand / "S1Hand/Paraguay_34417_S1Hand.tif", hand / "LabelHand/Paraguay_34417_LabelHand.tif"
  )
  assert not paraguay.validity.any()


def test_missing_file(pair, tmp_path):
  s1_path, label_path, *_ = pair
  with pytest.raises(DataError, match="nope.tif: file not found"):
    read_chip(tmp_path / "nope.tif", label_path)


def test_wrong_band_count(pair, tmp_path):
  _, label_path, s1, _ = pair
  one_band = write(tmp_path / "one.tif", s1[0], "float32")
  with pytest.raises(DataError, match="one.tif: expected 2 bands"):
    read_chip(one_band, label_path)


def test_wrong_dtype(pair, tmp_path):
  _, label_path, s1, label = pair
  integer_image = write(tmp_path / "int.tif", s1.astype(np.int16), "int16")
  with pytest.raises(DataError, match="int.tif: expected float bands"):
    read_chip(integer_image, label_path)
  float_label = write(tmp_path / "flabel.tif", label.astype(np.float32), "float32")
  with pytest.raises(DataError, match="flabel.tif: expected an integer label"):
    read_chip(pair[0], float_label)


def test_size_mismatch(pair, tmp_path):
  s1_path, _, _, label = pair
  small = write(tmp_path / "small.tif", label[:8], "int16")
  with pytest.raises(DataError, match="small.tif: does not match its image.*size"):
    read_chip(s1_path, small)


def test_georeference_mismatch_beyond_tolerance(pair, tmp_path):
  s1_path, _, _, label = pair
  shifted = write(
    tmp_path / "shift.tif", label, "int16", transform=from_origin(500001, 4000000, 10, 10)
  )
  with pytest.raises(DataError, match="shift.tif: does not match.*transform"):
    read_chip(s1_path, shifted)
  other_crs = write(tmp_path / "crs.tif", label, "int16", crs="EPSG:4326")
  with pytest.raises(DataError, match="crs.tif: does not match.*CRS"):
    read_chip(s1_path, other_crs)


def test_georeference_noise_within_tolerance_is_accepted(pair, tmp_path):
  s1_path, _, _, label = pair
  noisy = write(
    tmp_path / "noisy.tif",
    label,
    "int16",
    transform=from_origin(500000 + 1e-9, 4000000, 10 * (1 + 1e-13), 10),
  )
  read_chip(s1_path, noisy)


def test_label_values_out_of_range(pair, tmp_path):
  s1_path, _, _, label = pair
  bad = label.copy()
  bad[3, 3] = 2
  bad_path = write(tmp_path / "bad.tif", bad, "int16")
  with pytest.raises(DataError, match=r"bad.tif: hand label has values \[2\]"):
    read_chip(s1_path, bad_path)
  weak = np.where(label < 0, 255, label).astype(np.int16)
  chip = read_chip(s1_path, write(tmp_path / "weak.tif", weak, "int16"), label_kind="weak")
  assert not chip.validity[weak == 255].any()
  weak[0, 1] = 7
  with pytest.raises(DataError, match=r"weak label has values \[7\]"):
    read_chip(s1_path, write(tmp_path / "weak7.tif", weak, "int16"), label_kind="weak")


def test_not_a_tiff_and_truncated(pair, tmp_path):
  s1_path, label_path, *_ = pair
  text = tmp_path / "text.tif"
  text.write_text("hello")
  with pytest.raises(DataError, match="text.tif: not a readable GeoTIFF"):
    read_chip(text, label_path)
  truncated = tmp_path / "truncated.tif"
  truncated.write_bytes(Path(s1_path).read_bytes()[:600])
  with pytest.raises(DataError, match="truncated.tif"):
    read_chip(truncated, label_path)


@pytest.mark.parametrize(
  "window", [(-5, -3, 12, 9), (10, 12, 9, 9), (-4, 2, 30, 6), (3, 4, 5, 6), (20, 20, 4, 4)]
)
def test_windows_past_the_edges_are_rasterios_boundless_reads(pair, window):
  """One read of the part inside, the fill value beyond: what rasterio's (slower) boundless
  read gives, for both bands at once."""
  from rasterio.windows import Window

  s1_path = pair[0]
  left, top, cols, rows = window
  with rasterio.open(s1_path) as dataset:
    expected = dataset.read([1, 2], window=Window(left, top, cols, rows), boundless=True,
                            fill_value=-99.0, out_dtype=np.float32)  # fmt: skip
    values = read_window(dataset, [1, 2], Window(left, top, cols, rows), -99.0)
  assert values.shape == (2, rows, cols) and values.dtype == np.float32
  np.testing.assert_array_equal(values, expected)
