"""Trained weights read back: a workdir's best checkpoint as the parts a model is made of
(`workdir_parts`: what mapping needs to run it, without knowing of checkpoints), and the start of
a fine-tuning run (`starting_point`, `started_from`: a model folder's or workdir's weights)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from flood_jax.core import model_folder
from flood_jax.core.config import load_config
from flood_jax.dataset.stats import load_stats
from flood_jax.errors import ConfigError, UsageError
from flood_jax.models import model_from_config
from flood_jax.training import checkpoints as checkpoints_lib
from flood_jax.training.state import TrainState, initial_state

THRESHOLD_FILE = "threshold.json"


def workdir_parts(workdir: str | Path) -> tuple:
  """(config, stats, variables, card) of a training workdir's best checkpoint: what
  `mapping.loading` makes a model of. The card holds the calibrated threshold where training
  wrote one (threshold.json)."""
  workdir = Path(workdir)
  if not (workdir / "config.json").is_file():
    raise UsageError(
      f"{workdir}: not a training workdir (no config.json) nor a model folder (no model.json)"
    )
  config = load_config(workdir / "config.json")
  model = model_from_config(config.model)
  shapes = jax.eval_shape(lambda: initial_state(config, model, config.data.tile_size))
  state, _ = checkpoints_lib.restore_best(workdir, checkpoints_lib.abstract(shapes))
  variables = jax.device_get({"params": state.params, "batch_stats": state.batch_stats})
  threshold = workdir / THRESHOLD_FILE
  card = {"threshold": json.loads(threshold.read_text())["threshold"]} if threshold.exists() else {}
  return config, load_stats(workdir / "stats.json"), variables, card


def starting_point(source: str) -> tuple[dict, dict]:
  """(variables, normalisation statistics) of the model folder or training workdir a
  fine-tuning run starts from (`config.init_from`)."""
  if model_folder.is_model_folder(source):
    return model_folder.read_variables(source), model_folder.read_folder(source)["stats"]
  if not (Path(source) / "config.json").is_file():
    raise ConfigError(
      f"config.init_from={source}: not a model folder (model.json) nor a training workdir "
      "(config.json)"
    )
  _, stats, variables, _ = workdir_parts(source)
  return variables, stats


def leaf_shapes(tree) -> dict[str, tuple]:
  """{path of each leaf: its shape}."""
  leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {jax.tree_util.keystr(path): np.shape(leaf) for path, leaf in leaves}


def started_from(state: TrainState, source: str) -> TrainState:
  """`state` with the parameters and batch statistics of `source` (`starting_point`), which must
  be of the same architecture; ConfigError naming the first difference where it is not."""
  variables, _ = starting_point(source)
  expected = {"params": state.params, "batch_stats": state.batch_stats}
  ours, theirs = leaf_shapes(expected), leaf_shapes(variables)
  if ours != theirs:
    first = min(key for key in ours.keys() | theirs.keys() if ours.get(key) != theirs.get(key))
    raise ConfigError(
      f"config.init_from={source}: not the architecture of config.model ({first}: "
      f"{theirs.get(first)} there, {ours.get(first)} here); give config.model its fields"
    )
  cast = jax.tree.map(lambda value, like: np.asarray(value, like.dtype), variables, expected)
  return state.replace(params=cast["params"], batch_stats=cast["batch_stats"])


def training_data_root(workdir: Path, config) -> Path:
  """The root a workdir's tiles were cut from (its manifest), else config.data.root."""
  manifest = Path(config.data.preprocessed or workdir / "tiles") / "manifest.json"
  if manifest.exists():
    return Path(json.loads(manifest.read_text())["root"])
  if config.data.root:
    return Path(config.data.root)
  raise UsageError(f"{workdir}: cannot tell which data the run used; pass --data_root")
