"""Default configuration: every field of flood_jax at its default. The fields and what they mean
are documented once, in `flood_jax/core/config.py` (`default_config`), where stored configs are
also read back (`load_config`: a model trained before a field existed takes its default).

Variants (`best.py`, `demo.py`, `test.py`) import this file and change a few fields. Any field
can be overridden from the command line, e.g. `--config.optimizer.learning_rate=3e-4`, and the
ablations are arguments of a config file (see `apply_arg`):

    --config=configs/best.py:model=resunet_se,loss=dice
"""

import ml_collections

from flood_jax.core.config import default_config
from flood_jax.errors import ConfigError
from flood_jax.models import MODEL_VARIANTS
from flood_jax.training.losses import LOSSES


def apply_arg(config: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
  """Applies a config argument `key=value,...`: `model=<variant>` (MODEL_VARIANTS) sets the
  architecture switches, `loss=<name>` (losses.LOSSES) trains with that loss alone."""
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    if key == "model" and value in MODEL_VARIANTS:
      config.model.update(MODEL_VARIANTS[value])
    elif key == "loss" and value in LOSSES:
      config.loss.terms = {value: 1.0}  # that loss alone
    else:
      raise ConfigError(
        f"config argument {item!r}: expected model=<{'|'.join(MODEL_VARIANTS)}> or "
        f"loss=<{'|'.join(LOSSES)}>, separated by commas"
      )
  return config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The defaults of every field (documented in `flood_jax.core.config.default_config`), with
  the config argument `arg` applied."""
  return apply_arg(default_config(), arg)
