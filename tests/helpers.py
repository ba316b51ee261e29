"""Helpers shared by the training tests."""

import jax

from flood_jax.training import train
from flood_jax.training.checkpoints import Checkpoints, abstract


def latest_checkpoint(workdir, config):
  """(step, state on the host, extra) of a workdir's latest checkpoint."""
  checkpoints = Checkpoints(workdir)
  step = checkpoints.latest_step()
  state, extra = checkpoints.restore(
    checkpoints.latest, abstract(train.Trainer(config).initial_state())
  )
  checkpoints.close()
  return step, jax.device_get(state), extra
