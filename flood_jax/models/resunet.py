"""The ResUNet family of the original notebook, one module with switches.

With every switch off it is a plain U-Net (Ronneberger et al. 2015); `residual` gives ResUNet,
`attention_gates` adds Attention U-Net gates on the skips, `channel_attention` adds
squeeze-and-excitation in every block, `spatial_attention` adds CBAM-style spatial attention on
the skips. The notebook's best model is residual + attention gates + squeeze-and-excitation.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from flood_jax.models.blocks import (
  AttentionGate,
  ConvBlock,
  SpatialAttention,
  Upsample2x,
  convolution,
  max_pool2x,
)


class ResUNet(nn.Module):
  """Segmentation network: [B, H, W, 3] normalised bands -> [B, H, W, 1] water logits.

  H and W must be divisible by 2 ** (len(filters) - 1). Logits are float32 whatever `dtype`
  (the compute dtype; parameters are always float32). The sigmoid is left to the loss and to
  prediction.
  """

  filters: Sequence[int] = (64, 128, 256, 512)
  residual: bool = True
  channel_attention: bool = True
  spatial_attention: bool = False
  attention_gates: bool = True
  se_reduction: int = 16
  dropout: float = 0.0
  dtype: str = "float32"
  # Convolutions through models/conv.py (same parameters and results, faster on CPU) or lax's.
  fast_convolutions: bool = True

  def _expose(self, name: str, activation: jnp.ndarray) -> jnp.ndarray:
    """Makes a block's output available to interpretability (Grad-CAM++); identity otherwise.

    `sow` records it in the "intermediates" collection and `perturb` lets a gradient be taken
    with respect to it, both only when those collections are requested as mutable.
    """
    self.sow("intermediates", name, activation)
    return self.perturb(name, activation)

  @nn.compact
  def __call__(self, image: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    levels = len(self.filters) - 1
    if image.shape[1] % 2**levels or image.shape[2] % 2**levels:
      raise ValueError(
        f"image size {image.shape[1]}x{image.shape[2]} is not divisible by 2**{levels} "
        f"(needed by {len(self.filters)} filter levels)"
      )
    dtype = jnp.dtype(self.dtype)

    def block(features: int) -> ConvBlock:
      return ConvBlock(
        features,
        self.residual,
        self.channel_attention,
        self.se_reduction,
        dtype,
        fast=self.fast_convolutions,
      )

    x = image.astype(dtype)
    skips = []
    for level, features in enumerate(self.filters[:-1]):
      x = self._expose(f"encoder_{level}", block(features)(x, train))
      skips.append(x)
      if self.fast_convolutions:
        x = max_pool2x(x)
      else:
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = self._expose("bottleneck", block(self.filters[-1])(x, train))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    for level, (features, skip) in enumerate(
      zip(reversed(self.filters[:-1]), reversed(skips), strict=True)
    ):
      name = f"ConvTranspose_{level}"  # the same parameter names either way
      if self.fast_convolutions:
        x = Upsample2x(features, dtype=dtype, name=name)(x)
      else:
        x = nn.ConvTranspose(features, (2, 2), strides=(2, 2), dtype=dtype, name=name)(x)
      if self.attention_gates:
        skip = AttentionGate(max(features // 2, 1), dtype, fast=self.fast_convolutions)(
          skip, x, train
        )
      if self.spatial_attention:
        skip = SpatialAttention(dtype=dtype, fast=self.fast_convolutions)(skip)
      x = self._expose(
        f"decoder_{level}", block(features)(jnp.concatenate([x, skip], axis=-1), train)
      )
    logits = nn.Conv(
      1,
      (1, 1),
      dtype=dtype,
      conv_general_dilated=convolution(self.fast_convolutions),
    )(x)
    return logits.astype(jnp.float32)


def model_from_config(model_config) -> ResUNet:
  """Builds the ResUNet of a `config.model` section."""
  return ResUNet(
    filters=tuple(model_config.filters),
    residual=model_config.residual,
    channel_attention=model_config.channel_attention,
    spatial_attention=model_config.spatial_attention,
    attention_gates=model_config.attention_gates,
    se_reduction=model_config.se_reduction,
    dropout=model_config.dropout,
    dtype=model_config.dtype,
    fast_convolutions=model_config.get("fast_convolutions", True),
  )


# The notebook's ablation table, plus channel and spatial attention together.
MODEL_VARIANTS: dict[str, dict[str, bool]] = {
  "unet": dict(residual=False, channel_attention=False, spatial_attention=False, attention_gates=False),
  "resunet": dict(residual=True, channel_attention=False, spatial_attention=False, attention_gates=False),
  "resunet_ag": dict(residual=True, channel_attention=False, spatial_attention=False, attention_gates=True),
  "resunet_se": dict(residual=True, channel_attention=True, spatial_attention=False, attention_gates=False),
  "resunet_ag_se": dict(residual=True, channel_attention=True, spatial_attention=False, attention_gates=True),
  "dual_attention": dict(residual=True, channel_attention=True, spatial_attention=True, attention_gates=False),
}  # fmt: skip
