"""Real chips from any source through one catalog: the Sen1Floods11, DFC 2024, TerraMesh and
generic layouts, each read as VV and VH in dB with its label, and every bad folder refused."""

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from flood_jax.dataset.catalog import build_catalog, read_record, real_records
from flood_jax.errors import DataError
from tests.conftest import shared_set


def test_dfc2024_chips_are_power_times_ten_thousand_with_png_labels():
  folder = shared_set("dfc2024")
  records = build_catalog(folder)
  assert [record.chip_id for record in records][:3] == ["dfc2024_0", "dfc2024_1", "dfc2024_2"]
  assert {(r.dataset, r.source, r.split, r.event) for r in records} == {
    ("dfc2024", "hand", "test", None)
  }
  lake = read_record(records[0])  # chip 0: a lake, labelled water everywhere
  assert lake.validity.mean() > 0.9 and lake.label[lake.validity].mean() == 1.0
  assert -23.0 < np.median(lake.vv_vh_db[..., 0][lake.validity]) < -20.0  # SOURCES.md: -21.7 dB
  dry = read_record(records[7])  # chip 7: no water
  vv, vh = dry.vv_vh_db[..., 0][dry.validity], dry.vv_vh_db[..., 1][dry.validity]
  assert -14.0 < np.median(vv) < -6.0 and 4.0 < np.median(vv - vh) < 9.0
  assert dry.label.max() == 0 and dry.validity.mean() > 0.9


def test_terramesh_chips_have_weak_land_cover_labels():
  records = build_catalog(shared_set("terramesh"))
  assert len(records) == 5 and {r.source for r in records} == {"weak"}
  lagoon = read_record(next(r for r in records if r.chip_id == "282D_485L_3_3"))
  assert 0.45 < lagoon.label[lagoon.validity].mean() < 0.6  # SOURCES.md: 51.8% water
  water_vv = np.median(lagoon.vv_vh_db[..., 0][lagoon.label == 1])
  assert water_vv < np.median(lagoon.vv_vh_db[..., 0][(lagoon.label == 0) & lagoon.validity]) - 5


def test_sen1floods11_chips_carry_their_event(real_root):
  records = build_catalog(real_root)
  assert {record.event for record in records} == {
    "Ghana",
    "India",
    "Mekong",
    "Pakistan",
    "Paraguay",
  }
  india = read_record(next(r for r in records if r.chip_id == "India_900498"))
  assert 0.4 < india.label[india.validity].mean() < 0.55


def test_real_records_gather_every_chip_of_several_folders(real_root):
  records = real_records([real_root, shared_set("dfc2024"), shared_set("terramesh")])
  assert len(records) == 7 + 11 + 5
  assert {record.dataset for record in records} == {"sen1floods11", "dfc2024", "terramesh"}
  with pytest.raises(DataError, match="is also in"):
    real_records([real_root, real_root])


def _write(path, bands, dtype, crs="EPSG:32633", nodata=None):
  bands = np.asarray(bands)
  bands = bands[None] if bands.ndim == 2 else bands
  with rasterio.open(path, "w", driver="GTiff", count=len(bands), height=bands.shape[1],
                     width=bands.shape[2], dtype=dtype, crs=crs, nodata=nodata,
                     transform=from_origin(500000, 4000000, 10, 10)) as dataset:  # fmt: skip
    dataset.write(bands.astype(dtype))
  return path


def _generic(folder, rng, scale="power"):
  """Two chips: one stacked, one as _vv/_vh files, water dark on the left half."""
  folder.mkdir()
  vv_db = np.where(np.arange(64) < 32, -21.0, -9.0)[None, :].repeat(64, 0)
  vv_db = vv_db + rng.normal(0, 1, (64, 64))
  vh_db = vv_db - 7.0
  values = (lambda db: 10 ** (db / 10)) if scale == "power" else (lambda db: db)
  label = (np.arange(64) < 32)[None, :].repeat(64, 0).astype(np.uint8)
  label[:4] = 255  # no data
  _write(folder / "a.tif", [values(vv_db), values(vh_db)], "float32")
  _write(folder / "a_label.tif", label, "uint8", nodata=255)
  _write(folder / "b_vv.tif", values(vv_db), "float32")
  _write(folder / "b_vh.tif", values(vh_db), "float32")
  _write(folder / "b_label.tif", label, "uint8")
  return vv_db, label


def test_generic_chips_decide_their_scale_as_predict_does(tmp_path):
  vv_db, label = _generic(tmp_path / "mine", np.random.default_rng(0))
  records = build_catalog(tmp_path / "mine")
  assert [(r.chip_id, r.dataset, r.vh_path is not None) for r in records] == [
    ("a", "mine", False), ("b", "mine", True)]  # fmt: skip
  for record in records:
    chip = read_record(record)
    np.testing.assert_allclose(chip.vv_vh_db[..., 0], vv_db, atol=1e-4)  # power read as power
    assert (chip.validity == (label != 255)).all() and (chip.label == (label == 1)).all()


def test_bad_folders_and_labels_are_one_line_naming_the_file(tmp_path):
  rng = np.random.default_rng(1)
  _generic(tmp_path / "mine", rng)
  with pytest.raises(DataError, match="a folder in no layout flood_jax reads.*DFC 2024"):
    build_catalog(tmp_path)
  _write(tmp_path / "mine" / "a_label.tif", np.full((64, 64), 3), "uint8")
  with pytest.raises(DataError, match=r"a_label.tif: label values \[3\] outside"):
    read_record(build_catalog(tmp_path / "mine")[0])
  _write(tmp_path / "mine" / "a_label.tif", np.zeros((32, 64)), "uint8")
  with pytest.raises(DataError, match=r"a_label.tif: label of 32x64 px against 64x64"):
    build_catalog(tmp_path / "mine")
  (tmp_path / "mine" / "a.tif").unlink()
  with pytest.raises(DataError, match=r"a_label.tif: no image a.tif, nor a_vv.tif and a_vh.tif"):
    build_catalog(tmp_path / "mine")
  dfc = tmp_path / "dfc"
  (dfc / "images").mkdir(parents=True), (dfc / "labels").mkdir()
  _write(dfc / "images" / "0.tif", rng.integers(1, 3000, (2, 16, 16)), "int16", crs=None)
  _write(dfc / "labels" / "0.png", np.full((16, 16), 2), "uint8", crs=None)
  with pytest.raises(DataError, match=r"0.png: label values \[2\] outside \[0, 1\]"):
    read_record(build_catalog(dfc)[0])
