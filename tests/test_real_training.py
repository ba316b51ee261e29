"""Real chips mixed into training: their tiles beside the synthetic ones, held-out chips never
read, each label kind weighted in the loss, and fine-tuning from a model folder."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import test as test_config
from flood_jax.errors import ConfigError, DataError
from flood_jax.training import losses, pipeline, restore, train
from flood_jax.training.tile_store import preprocess
from tests.conftest import shared_set
from tests.test_layouts import _generic


@pytest.fixture(scope="module")
def real_store(tmp_path_factory, synthetic_root):
  """Synthetic chips, plus two generic real chips (hand labels) and TerraMesh (weak labels)."""
  folder = tmp_path_factory.mktemp("real")
  _generic(folder / "mine", np.random.default_rng(0))
  config = test_config.get_config()
  config.data.root = str(synthetic_root)
  config.data.tile_size = config.data.tile_stride = 64
  config.data.real_roots = (str(folder / "mine"), str(shared_set("terramesh")))
  preprocess(config, folder / "tiles")
  return config, folder / "tiles"


def test_real_tiles_sit_beside_the_synthetic_ones_with_their_chip(real_store):
  from flood_jax.dataset.tiles import TileSource, tile_folder

  config, store = real_store
  real = TileSource(tile_folder(store, "train", "real"))
  chips = {(entry["chip_id"], entry["dataset"], entry["source"]) for entry in real.index}
  assert chips == {("a", "mine", "hand"), ("b", "mine", "hand")} | {
    (name, "terramesh", "weak")
    for name in ("282D_485L_3_3", "38D_378R_2_3", "433D_629L_3_1", "609U_541L_3_0", "637U_59R_1_3")
  }
  assert len(real) == 2 * 1 + 5 * 16  # 64-px tiles: 1 of a 64-px chip, 4 x 4 of a 224-px one


def test_held_out_chips_are_never_read_and_labels_are_weighted(real_store):
  from flood_jax.dataset.tiles import TileSource, tile_folder

  config, store = real_store
  real = TileSource(tile_folder(store, "train", "real"))
  config.data.real_hand_weight, config.data.real_weak_weight = 3.0, 0.25
  for holdout, expected in ((("a",), {"b"}), (("terramesh",), {"a", "b"}), (("mine",), set())):
    config.data.real_holdout = holdout
    chosen = pipeline.real_tiles(real, config.data)
    chips = {real.index[index]["chip_id"] for index in chosen.indices}
    assert chips & {"a", "b"} == expected and not set(holdout) & chips
    weights = {
      real.index[i]["source"]: w for i, w in zip(chosen.indices, chosen.weights, strict=True)
    }
    assert weights.get("hand", 3.0) == 3.0 and weights.get("weak", 0.25) == 0.25


def test_each_batch_holds_real_rows_at_their_share(real_store):
  config, store = real_store
  config.data.real_holdout = ()
  config.data.real_fraction, config.data.weak_fraction = 0.5, 0.5
  config.data.real_hand_weight, config.data.real_weak_weight = 3.0, 0.25
  stats = {"mean": [-12.0, 0.3, 15.0], "std": [5.0, 0.2, 5.0]}
  batches = pipeline.train_dataset(store, config, stats)
  assert pipeline.batch_composition(config, True, True) == (1, 1, 2)
  for step in range(5):
    weights = batches[step]["weight"][:, 0, 0, 0]
    assert weights[:2].tolist() == [1.0, 1.0] and set(weights[2:]) <= {3.0, 0.25}
  assert batches[0]["image"].shape == (4, 64, 64, 3)


def test_a_store_of_other_real_chips_is_refused(real_store, tmp_path):
  config, store = real_store
  config = config.copy_and_resolve_references()
  config.data.preprocessed, config.data.real_roots = str(store), ()
  with pytest.raises(DataError, match="holds the real chips of"):
    train.prepare_data(config, tmp_path)


@pytest.mark.parametrize("name", ["binary_cross_entropy", "focal_tversky"])
def test_a_pixel_of_weight_two_counts_as_two_pixels(name):
  rng = np.random.default_rng(0)
  logits, label = rng.normal(size=(1, 4, 4, 1)), (rng.random((1, 4, 4, 1)) > 0.5).astype(float)
  weights = np.ones((1, 4, 4, 1))
  weights[0, 0, 0], weights[0, 1, 1] = 2.0, 0.0
  twice = [np.concatenate([array, array[:, :1, :1]], axis=1).reshape(1, 17, 1, 1)
           for array in (logits.reshape(1, 16, 1, 1), label.reshape(1, 16, 1, 1))]  # fmt: skip
  validity = np.ones((1, 17, 1, 1), bool)
  validity[0, 5] = False  # pixel (1, 1), weight 0
  loss = losses.LOSSES[name]
  np.testing.assert_allclose(loss(jnp.asarray(logits), label, jnp.asarray(weights)),
                             loss(jnp.asarray(twice[0]), twice[1], validity), rtol=1e-5)  # fmt: skip
  gradient = jax.grad(lambda x: loss(x, label, jnp.asarray(weights)))(jnp.asarray(logits))
  assert gradient[0, 1, 1, 0] == 0.0 and gradient[0, 0, 0, 0] != 0.0


def test_fine_tuning_starts_from_the_model_folder_s_variables(model_folder):
  from flood_jax.core.model_folder import read_variables

  config = test_config.get_config()
  trainer = train.Trainer(config)
  state = restore.started_from(trainer.initial_state(), str(model_folder))
  expected = read_variables(model_folder)
  for ours, theirs in zip(jax.tree.leaves({"params": state.params}),
                          jax.tree.leaves({"params": expected["params"]}), strict=True):  # fmt: skip
    np.testing.assert_array_equal(ours, theirs)
  config.model.filters = (8, 16, 32)
  with pytest.raises(ConfigError, match="not the architecture of config.model"):
    restore.started_from(train.Trainer(config).initial_state(), str(model_folder))
  with pytest.raises(ConfigError, match="not a model folder .* nor a training workdir"):
    restore.starting_point("/nonexistent")
