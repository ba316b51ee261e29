import json

import ml_collections
import numpy as np
import pytest

from configs import test as test_config
from flood_jax.errors import ConfigError
from flood_jax.training import pipeline


@pytest.fixture(scope="module")
def stats(tile_store):
  return json.loads((tile_store / "stats.json").read_text())


def _asymmetric_element(size=16):
  """An L-shaped pattern present identically in VV, label and validity."""
  pattern = np.zeros((size, size), bool)
  pattern[2:12, 3] = True
  pattern[11, 3:9] = True
  pattern[0, 0] = True
  vv_vh = np.stack([np.where(pattern, -5.0, -20.0), np.where(pattern, -12.0, -28.0)], -1).astype(
    np.float32
  )
  return {
    "vv_vh_db": vv_vh,
    "label": pattern.astype(np.uint8),
    "validity": pattern | (np.arange(size)[:, None] > 12),
  }


def test_geometric_augmentation_keeps_image_label_validity_aligned():
  aug = test_config.get_config().augment
  aug.flip_probability = 0.5
  aug.rotate_probability = 0.9
  element = _asymmetric_element()
  seen = set()
  for seed in range(40):
    out = pipeline.augment_geometry(element, np.random.default_rng(seed), aug)
    np.testing.assert_array_equal(out["vv_vh_db"][..., 0] > -10, out["label"] > 0)
    np.testing.assert_array_equal(out["vv_vh_db"][..., 1] > -20, out["label"] > 0)
    # validity moved with them: the pattern is always valid
    assert out["validity"][out["label"] > 0].all()
    assert out["validity"].sum() == element["validity"].sum()
    seen.add(out["label"].tobytes())
  assert len(seen) == 8  # all flips and rotations of an asymmetric shape occur


def test_full_augmentation_keeps_alignment_and_zero_invalid(stats):
  config = test_config.get_config()
  config.augment.level_shift_probability = 1.0
  config.augment.level_shift_db = 3.0
  config.augment.speckle_probability = 1.0
  augment = pipeline.make_augment(config, stats)
  element = _asymmetric_element()
  for seed in range(10):
    out = augment(element, np.random.default_rng(seed))
    assert out["image"].shape == (16, 16, 3) and out["label"].shape == (16, 16, 1)
    assert np.all(out["image"][~out["validity"][..., 0]] == 0.0)
    assert out["validity"][out["label"] > 0].all()


def test_prepare_ignores_raw_values_at_invalid_pixels(stats):
  element = _asymmetric_element()
  changed = dict(
    element, vv_vh_db=np.where(element["validity"][..., None], element["vv_vh_db"], 123.0)
  )
  changed["label"] = np.where(element["validity"], element["label"], 1).astype(np.uint8)
  first, second = pipeline.prepare(element, stats, "db"), pipeline.prepare(changed, stats, "db")
  np.testing.assert_array_equal(first["image"], second["image"])
  np.testing.assert_array_equal(first["validity"], second["validity"])


def test_batches_are_reproducible_and_resumable(tile_store, stats):
  config = test_config.get_config()
  dataset = pipeline.train_dataset(tile_store, config, stats)
  iterator = pipeline.to_iterator(dataset, config)
  first = next(iterator)
  state = iterator.get_state()
  second = next(iterator)
  resumed = pipeline.to_iterator(pipeline.train_dataset(tile_store, config, stats), config)
  resumed.set_state(state)
  np.testing.assert_array_equal(next(resumed)["image"], second["image"])
  np.testing.assert_array_equal(
    pipeline.train_dataset(tile_store, config, stats)[0]["image"], first["image"]
  )
  other_seed = test_config.get_config()
  other_seed.seed = 7
  assert not np.array_equal(
    pipeline.train_dataset(tile_store, other_seed, stats)[0]["image"], first["image"]
  )


def test_processes_read_disjoint_rows_that_make_the_global_batch(tile_store, stats):
  config = test_config.get_config()
  config.batch_size = 8
  config.data.weak_fraction = 0.5
  whole = pipeline.train_dataset(tile_store, config, stats)[1]
  parts = [pipeline.train_dataset(tile_store, config, stats, index, 2)[1] for index in range(2)]
  # Global batch = hand rows then weak rows; process p holds its share of each.
  hand = np.concatenate([parts[0]["image"][:2], parts[1]["image"][:2]])
  weak = np.concatenate([parts[0]["image"][2:], parts[1]["image"][2:]])
  np.testing.assert_array_equal(np.concatenate([hand, weak]), whole["image"])


def test_batch_composition_follows_the_ratio():
  config = ml_collections.ConfigDict(
    {"batch_size": 16, "data": {"weak_fraction": 0.25, "use_weak": True}}
  )
  assert pipeline.batch_composition(config, has_weak=True) == (12, 4, 0)
  assert pipeline.batch_composition(config, has_weak=False) == (16, 0, 0)
  config.data.weak_fraction = 1.5
  with pytest.raises(ConfigError, match="weak_fraction"):
    pipeline.batch_composition(config, has_weak=True)


def test_eval_batches_pad_with_invalid_rows(tile_store, stats):
  config = test_config.get_config()
  config.eval_batch_size = 3
  batches = pipeline.eval_batches(tile_store, "test", config, stats)
  indices = np.concatenate([batch["index"] for batch in batches])
  real = indices[indices >= 0]
  np.testing.assert_array_equal(real, np.arange(len(real)))
  for batch in batches:
    assert not batch["validity"][batch["index"] < 0].any()


def test_a_tile_source_pickles_as_its_folder_not_its_tiles(tile_store):
  """grain's worker processes receive the source pickled: the folder, never the tiles' bytes."""
  import pickle

  from flood_jax.dataset.tiles import TileSource, tile_folder

  source = TileSource(tile_folder(tile_store, "train", "hand"))
  data = pickle.dumps(source)
  assert len(data) < 1000 < source._arrays["vv_vh_db"].nbytes
  copy = pickle.loads(data)
  np.testing.assert_array_equal(copy[3]["vv_vh_db"], source[3]["vv_vh_db"])
  assert len(copy) == len(source)
