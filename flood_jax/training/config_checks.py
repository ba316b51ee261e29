"""The checks of a training config that need the run: its loss names and the devices JAX sees.

`validate(config)` runs before training starts (and before preprocessing), so a bad field fails
in a second rather than after data generation or compilation. The checks of values alone are
`flood_jax.core.config.check_values`, which also guards every stored config that is loaded.
"""

from __future__ import annotations

import ml_collections

from flood_jax.core.config import check_divisible, check_values
from flood_jax.errors import ConfigError
from flood_jax.training.losses import LOSSES


def check_loss_names(loss: ml_collections.ConfigDict) -> None:
  unknown = set(loss.terms) - set(LOSSES)
  if unknown:
    raise ConfigError(
      f"config.loss.terms has unknown losses {sorted(unknown)}; choose from {sorted(LOSSES)}"
    )


def validate(config: ml_collections.ConfigDict) -> None:
  """Refuses a training config that would fail later or train nonsense, naming the field."""
  import jax

  check_loss_names(config.loss)
  check_values(config)
  devices = jax.device_count()
  check_divisible("batch_size", config.batch_size, devices, "devices JAX sees")
  check_divisible("eval_batch_size", config.eval_batch_size, devices, "devices JAX sees")
