import shutil

import pytest

from flood_jax.dataset.catalog import build_catalog, count_by_split, parse_split_csv
from flood_jax.errors import DataError
from tests.conftest import OFFICIAL_SPLITS


def test_official_split_files_parse_to_the_official_counts(real_root):
  counts = {split: len(parse_split_csv(OFFICIAL_SPLITS / f"flood_{split}_data.csv"))
            for split in ("train", "valid", "test", "bolivia")}  # fmt: skip
  assert counts == {"train": 252, "valid": 89, "test": 90, "bolivia": 15}
  all_ids = [
    chip
    for split in counts
    for chip in parse_split_csv(OFFICIAL_SPLITS / f"flood_{split}_data.csv")
  ]
  assert len(set(all_ids)) == 446
  assert all("\r" not in chip and chip.count("_") >= 1 for chip in all_ids)


def test_a_header_row_is_skipped(tmp_path):
  csv = tmp_path / "flood_train_data.csv"
  csv.write_bytes(b"s1,label\r\nGhana_1_S1Hand.tif,Ghana_1_LabelHand.tif\r\n")
  assert parse_split_csv(csv) == ["Ghana_1"]


def test_real_sample_catalog(real_root):
  records = build_catalog(real_root)
  assert len(records) == 7
  assert count_by_split(records)["test"]["hand"] == 7
  assert count_by_split(records)["train"]["hand"] == 0


def test_synthetic_catalog_has_every_split_and_weak_chips(synthetic_root):
  counts = count_by_split(build_catalog(synthetic_root))
  assert counts["train"]["weak"] == 6
  assert all(counts[split]["hand"] > 0 for split in ("train", "valid", "test", "bolivia"))


def test_missing_root_and_wrong_layout(tmp_path):
  with pytest.raises(DataError, match="dataset root not found"):
    build_catalog(tmp_path / "absent")
  with pytest.raises(DataError, match="a folder in no layout flood_jax reads"):
    build_catalog(tmp_path)


def test_csv_naming_a_missing_chip(synthetic_root, tmp_path):
  root = tmp_path / "copy"
  shutil.copytree(synthetic_root, root)
  csv = root / "splits/flood_handlabeled/flood_test_data.csv"
  csv.write_bytes(csv.read_bytes() + b"Ghana_999_S1Hand.tif,Ghana_999_LabelHand.tif\r\n")
  with pytest.raises(
    DataError, match=r"Ghana_999_S1Hand.tif: file not found \(chip Ghana_999 of test split\)"
  ):
    build_catalog(root)


def test_chip_in_two_splits_is_refused(synthetic_root, tmp_path):
  root = tmp_path / "copy"
  shutil.copytree(synthetic_root, root)
  splits = root / "splits/flood_handlabeled"
  first_test = (splits / "flood_test_data.csv").read_bytes().split(b"\r\n")[0]
  train = splits / "flood_train_data.csv"
  train.write_bytes(train.read_bytes() + first_test + b"\r\n")
  with pytest.raises(DataError, match="is also in the"):
    build_catalog(root)
