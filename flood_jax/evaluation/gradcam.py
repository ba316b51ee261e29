"""Grad-CAM++ (Chattopadhay et al. 2018) for the segmentation output of a ResUNet.

The target score is the sum of water logits over a region (the whole image by default). For a
block's output A (named as in `ResUNet`: encoder_<i>, bottleneck, decoder_<i>) with gradient
g = dS/dA:
    alpha_k(ij) = g^2 / (2 g^2 + sum_ab A_k(ab) g^3)
    w_k = sum_ij alpha_k(ij) relu(g_k(ij))
    map = relu(sum_k w_k A_k), resized to the input and divided by its maximum, in [0, 1].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from flood_jax.models import ResUNet


def layer_names(model: ResUNet) -> list[str]:
  """The blocks the ResUNet family exposes to Grad-CAM++; [] for an architecture without them."""
  if not hasattr(model, "filters"):
    return []
  levels = len(model.filters) - 1
  return (
    [f"encoder_{i}" for i in range(levels)]
    + ["bottleneck"]
    + [f"decoder_{i}" for i in range(levels)]
  )


def gradcam_plus_plus(
  model: ResUNet, variables: dict, image: np.ndarray, layer: str, region: np.ndarray | None = None
) -> np.ndarray:
  """float32 [H, W] heat map in [0, 1] for one normalised image [H, W, 3].

  Args:
    region: bool [H, W]; the target is the sum of water logits inside it (None: everywhere).
  """
  if layer not in layer_names(model):
    raise ValueError(f"unknown layer {layer!r}; choose from {layer_names(model)}")
  images = jnp.asarray(image)[None]
  height, width = image.shape[:2]
  weights = jnp.ones((height, width)) if region is None else jnp.asarray(region, jnp.float32)
  _, collections = model.apply(
    variables, images, train=False, mutable=["intermediates", "perturbations"]
  )
  activation = collections["intermediates"][layer][0][0]
  perturbations = jax.tree.map(jnp.zeros_like, collections["perturbations"])

  def score(perturbations):
    logits = model.apply({**variables, "perturbations": perturbations}, images, train=False)
    return jnp.sum(logits[0, ..., 0] * weights)

  gradient = jax.grad(score)(perturbations)[layer][0]
  squared, cubed = gradient**2, gradient**3
  denominator = 2 * squared + jnp.sum(activation * cubed, axis=(0, 1), keepdims=True)
  alpha = squared / jnp.where(denominator != 0, denominator, 1.0)
  channel_weights = jnp.sum(alpha * jax.nn.relu(gradient), axis=(0, 1))
  heat = jax.nn.relu(jnp.sum(channel_weights * activation, axis=-1))
  heat = jax.image.resize(heat, (height, width), method="bilinear")
  heat = jnp.clip(heat / jnp.maximum(heat.max(), 1e-12), 0.0, 1.0)
  return np.asarray(heat, np.float32)


def gradcam_of_chip(model, vv_vh_db: np.ndarray, water: np.ndarray, layer: str):
  """Grad-CAM++ of a trained model (`inference.TrainedModel`) on a chip: (crop, heat, region).

  The target is the sum of water logits over the predicted water `water` (bool [H, W]), or the
  whole image where none is predicted. The chip is cropped to a size the network accepts and at
  most four prediction windows a side (`crop`, a slice), since the gradient of a whole scene
  would not fit in memory.
  """
  image, _ = model.normalised_input(vv_vh_db)
  size = model.config.predict.tile_size
  levels = 2 ** (len(model.config.model.filters) - 1)
  height, width = (image.shape[0] // levels) * levels, (image.shape[1] // levels) * levels
  crop = np.s_[: min(height, 4 * size), : min(width, 4 * size)]
  region = water[crop]
  heat = gradcam_plus_plus(
    model.model, model.variables, image[crop], layer, region if region.any() else None
  )
  return crop, heat, region
