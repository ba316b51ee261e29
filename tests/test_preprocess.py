import json
import subprocess
import sys

import numpy as np
import pytest

from configs import test as test_config
from flood_jax.core.files import partial_path
from flood_jax.dataset.catalog import build_catalog
from flood_jax.dataset.tiles import TileSource, tile_folder
from flood_jax.errors import DataError
from flood_jax.scenes.bands import engineered_bands
from flood_jax.training.tile_store import preprocess


def test_outputs_and_counts(tile_store):
  manifest = json.loads((tile_store / "manifest.json").read_text())
  stats = json.loads((tile_store / "stats.json").read_text())
  assert len(stats["mean"]) == 3 and len(stats["std"]) == 3
  assert np.isfinite(stats["mean"]).all() and (np.array(stats["std"]) > 0).all()
  for split, sources in manifest["tiles"].items():
    for source, count in sources.items():
      assert len(TileSource(tile_folder(tile_store, split, source))) == count
  assert manifest["tiles"]["train"]["weak"] > 0 and manifest["tiles"]["test"]["hand"] > 0


def test_no_tile_of_a_test_chip_is_in_train(tile_store, synthetic_root):
  records = build_catalog(synthetic_root)
  held_out = {r.chip_id for r in records if r.split in ("test", "bolivia", "valid")}
  train_chips = {t["chip_id"] for source in ("hand", "weak")
                 for t in TileSource(tile_folder(tile_store, "train", source)).index}  # fmt: skip
  assert train_chips and not train_chips & held_out
  test_chips = {t["chip_id"] for t in TileSource(tile_folder(tile_store, "test", "hand")).index}
  assert test_chips <= {r.chip_id for r in records if r.split == "test"}


def test_stats_are_over_valid_training_pixels_only(tile_store):
  sums, squares, count = np.zeros(3), np.zeros(3), 0
  for source in ("hand", "weak"):
    tiles = TileSource(tile_folder(tile_store, "train", source))
    for index in range(len(tiles)):
      tile = tiles[index]
      bands = engineered_bands(tile["vv_vh_db"][..., 0], tile["vv_vh_db"][..., 1])[tile["validity"]]
      sums += bands.sum(0)
      squares += (bands.astype(np.float64) ** 2).sum(0)
      count += len(bands)
  stats = json.loads((tile_store / "stats.json").read_text())
  np.testing.assert_allclose(stats["mean"], sums / count, rtol=1e-4)
  np.testing.assert_allclose(
    stats["std"], np.sqrt(squares / count - (sums / count) ** 2), rtol=1e-3
  )


def test_real_chips_skip_empty_ones_and_need_stats_from(real_root, tile_store, tmp_path):
  config = test_config.get_config()
  config.data.root = str(real_root)
  with pytest.raises(DataError, match="stats_from"):
    preprocess(config, tmp_path / "real")
  assert not (tmp_path / "real").exists() and not partial_path(tmp_path / "real").exists()
  config.data.stats_from = str(tile_store / "stats.json")
  manifest = preprocess(config, tmp_path / "real")
  skipped = {chip["chip_id"] for chip in manifest["skipped_chips"]}
  assert skipped == {"Paraguay_34417", "Ghana_83483"}
  assert manifest["tiles"]["test"]["hand"] > 0 and manifest["tiles"]["train"]["hand"] == 0
  assert (tmp_path / "real" / "stats.json").exists()


def test_interrupted_run_leaves_no_complete_looking_output(synthetic_root, tmp_path):
  """A preprocess killed mid-way leaves only its partial folder, never the output itself."""
  code = (
    "import sys, flood_jax.training.tile_store as p\n"
    "from configs import test as t\n"
    "from flood_jax.training.tile_store import preprocess\n"
    "calls = []\n"
    "original = p.read_record\n"
    "def dying(*a, **k):\n"
    "  calls.append(1)\n"
    "  if len(calls) == 5: import os; os._exit(9)\n"
    "  return original(*a, **k)\n"
    "p.read_record = dying\n"
    "c = t.get_config(); c.data.root = sys.argv[1]\n"
    "preprocess(c, sys.argv[2])\n"
  )
  result = subprocess.run([sys.executable, "-c", code, str(synthetic_root), str(tmp_path / "out")])
  assert result.returncode == 9
  assert not (tmp_path / "out").exists() and partial_path(tmp_path / "out").is_dir()
  config = test_config.get_config()
  config.data.root = str(synthetic_root)
  preprocess(config, tmp_path / "out")  # a later run completes and replaces the partial folder
  assert (tmp_path / "out" / "manifest.json").exists()
  assert not partial_path(tmp_path / "out").exists()


def test_class_weights_are_balanced_weights_of_the_training_pixels(tile_store):
  """class_weights.json counts valid training pixels of each class (hand and weak, tiles cut
  without overlap here) and gives scikit-learn's balanced weights, as the notebook saves."""
  counts = np.zeros(2, np.int64)
  for source in ("hand", "weak"):
    tiles = TileSource(tile_folder(tile_store, "train", source))
    for index in range(len(tiles)):
      tile = tiles[index]
      counts += np.bincount(tile["label"][tile["validity"]], minlength=2)
  weights = json.loads((tile_store / "class_weights.json").read_text())
  assert (weights["dry_pixels"], weights["water_pixels"]) == tuple(counts)
  total = counts.sum()
  assert weights["water"] == pytest.approx(total / (2 * counts[1]))
  assert weights["water_weight"] == pytest.approx(counts[0] / counts[1])


def test_water_weight_auto_takes_the_class_weights(tile_store):
  from flood_jax.training.train import resolve_water_weight

  config = test_config.get_config()
  config.loss.water_weight = "auto"
  resolved = resolve_water_weight(config, tile_store)
  expected = json.loads((tile_store / "class_weights.json").read_text())["water_weight"]
  assert (
    resolved.loss.water_weight == pytest.approx(expected) and config.loss.water_weight == "auto"
  )
  config.loss.water_weight = 2.0
  assert resolve_water_weight(config, tile_store).loss.water_weight == 2.0
