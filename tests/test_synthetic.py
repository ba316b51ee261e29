import hashlib

import numpy as np

from flood_jax.core.baselines import otsu_threshold
from flood_jax.dataset.catalog import build_catalog
from flood_jax.dataset.synthetic import generate_dataset, synthesize_scene
from flood_jax.scenes.geotiff import open_header


def _digest(root):
  digest = hashlib.sha256()
  for path in sorted(root.rglob("*")):
    if path.is_file():
      digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
  return digest.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
  first = generate_dataset(tmp_path / "a", 5, 2, seed=3)
  second = generate_dataset(tmp_path / "b", 5, 2, seed=3)
  third = generate_dataset(tmp_path / "c", 5, 2, seed=4)
  assert _digest(first) == _digest(second)
  assert _digest(first) != _digest(third)


def test_layout_and_georeferencing(synthetic_root):
  records = build_catalog(synthetic_root)
  header = open_header(records[0].s1_path)
  assert header.crs.to_epsg() // 100 == 326  # UTM north
  assert header.transform.a == 10.0 and header.transform.e == -10.0
  csv = next((synthetic_root / "splits/flood_handlabeled").glob("*.csv")).read_bytes()
  assert b"\r\n" in csv and not csv.startswith(b"s1")


def test_scene_has_speckle_dark_water_and_nodata():
  rng = np.random.default_rng(0)
  scenes = [synthesize_scene(rng) for _ in range(12)]
  water_vv = np.concatenate(
    [s.vv_vh_db[..., 0][s.water & np.isfinite(s.vv_vh_db[..., 0])] for s in scenes]
  )
  dry_vv = np.concatenate(
    [s.vv_vh_db[..., 0][~s.water & np.isfinite(s.vv_vh_db[..., 0])] for s in scenes]
  )
  assert np.median(water_vv) < np.median(dry_vv) - 4
  fractions = [s.water.mean() for s in scenes]
  assert min(fractions) < 0.05 and max(fractions) > 0.4
  assert any((s.hand_label == -1).any() for s in scenes)


def test_otsu_threshold_splits_two_modes():
  values = np.concatenate([np.full(100, -20.0), np.full(300, -8.0)])
  threshold = otsu_threshold(values)
  assert -20 < threshold < -8


def test_split_sizes_give_each_split_its_count(tmp_path):
  """--official_sizes writes the real dataset's split sizes; here the same path with small ones."""
  from flood_jax.dataset.catalog import build_catalog, count_by_split
  from flood_jax.dataset.synthetic import OFFICIAL_SPLIT_SIZES, generate_dataset

  assert sum(OFFICIAL_SPLIT_SIZES.values()) == 446
  sizes = {"train": 3, "valid": 2, "test": 2, "bolivia": 1}
  root = generate_dataset(tmp_path / "v1.1", 0, 1, seed=3, split_sizes=sizes)
  counts = count_by_split(build_catalog(root))
  assert {split: counts[split]["hand"] for split in sizes} == sizes
  assert counts["train"]["weak"] == 1
