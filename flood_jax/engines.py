"""Inference engines: what turns normalised windows into water probabilities.

An engine is called as `engine(images)` with float32 [B, T, T, 3] and returns float32 [B, T, T].
`TrainedModel` holds one and knows nothing of how it runs; each is chosen once, when the model
is loaded.

- `XlaEngine`: the Flax model jitted by XLA (any device JAX sees; the training workdir's path).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


class XlaEngine:
  """The Flax model and its variables, jitted (one compilation per batch shape)."""

  name, precision = "xla", "float32"

  def __init__(self, model, variables: dict):
    self._apply = jax.jit(
      lambda variables, images: jax.nn.sigmoid(model.apply(variables, images, train=False)[..., 0])
    )
    self._variables = variables

  def __call__(self, images: np.ndarray) -> np.ndarray:
    return np.asarray(self._apply(self._variables, jnp.asarray(images)))
