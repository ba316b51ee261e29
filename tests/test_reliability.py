"""Non-finite steps and interrupted checkpoint writes."""

import shutil

import jax
import numpy as np
import pytest

from configs import test as test_config
from flood_jax.errors import FloodJaxError
from flood_jax.training import pipeline, train
from tests.helpers import latest_checkpoint


def _config(tile_store, **changes):
  config = test_config.get_config()
  config.data.preprocessed = str(tile_store)
  config.num_train_steps = 6
  config.eval_every_steps = 2
  for key, value in changes.items():
    config[key] = value
  return config


@pytest.fixture
def poisoned_step_3(monkeypatch):
  """The third batch carries NaN at its valid pixels (as a corrupt tile would)."""
  original = pipeline.train_dataset

  def poisoned(*args, **kwargs):
    def poison(index, batch):
      if index == 2:
        batch = dict(
          batch, image=np.where(batch["validity"], np.nan, batch["image"]).astype(np.float32)
        )
      return batch

    return original(*args, **kwargs).map_with_index(poison)

  monkeypatch.setattr(pipeline, "train_dataset", poisoned)


def _all_finite(tree) -> bool:
  return all(
    np.isfinite(np.asarray(leaf)).all()
    for leaf in jax.tree.leaves(tree)
    if np.issubdtype(np.asarray(leaf).dtype, np.floating)
  )


def test_nonfinite_stop_names_the_step_and_writes_no_bad_checkpoint(
  tile_store, tmp_path, poisoned_step_3
):
  config = _config(tile_store)
  with pytest.raises(FloodJaxError, match="non-finite loss or gradient at step 3"):
    train.train_and_evaluate(config, tmp_path)
  step, state, _ = latest_checkpoint(tmp_path, config)
  assert step == 2
  assert _all_finite(state.params) and _all_finite(state.batch_stats)


def test_nonfinite_skip_counts_and_goes_on(tile_store, tmp_path, poisoned_step_3):
  config = _config(tile_store, nonfinite="skip")
  train.train_and_evaluate(config, tmp_path)
  step, state, extra = latest_checkpoint(tmp_path, config)
  assert step == 6 and extra["skipped_steps"] == 1
  assert (
    _all_finite(state.params) and _all_finite(state.batch_stats) and _all_finite(state.opt_state)
  )


def test_kill_during_checkpoint_write_leaves_previous_loadable(tile_store, tmp_path):
  """A SIGKILL while Orbax writes leaves a temporary folder with part of the step: simulated here."""
  config = _config(tile_store)
  train.train_and_evaluate(config, tmp_path / "run")
  latest = tmp_path / "run" / "checkpoints" / "latest"
  partial = latest / "8.orbax-checkpoint-tmp-1234567"
  shutil.copytree(latest / "6", partial)
  for path in sorted(partial.rglob("*")):
    if path.is_file():
      path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
  step, state, _ = latest_checkpoint(tmp_path / "run", config)
  assert step == 6 and _all_finite(state.params)
  config.num_train_steps = 8
  train.train_and_evaluate(config, tmp_path / "run")  # resumes from step 6 and completes step 8
  reference = _config(tile_store, num_train_steps=8)
  train.train_and_evaluate(reference, tmp_path / "reference")
  _, resumed, _ = latest_checkpoint(tmp_path / "run", config)
  _, straight, _ = latest_checkpoint(tmp_path / "reference", reference)
  assert jax.tree.all(jax.tree.map(np.array_equal, resumed.params, straight.params))
