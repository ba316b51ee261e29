"""The ResUNet family of the original notebook, one module with switches.

With every switch off it is a plain U-Net (Ronneberger et al. 2015); `residual` gives ResUNet,
`attention_gates` adds Attention U-Net gates on the skips, `channel_attention` adds
squeeze-and-excitation in every block, `spatial_attention` adds CBAM-style spatial attention on
the skips. The notebook's best model is residual + attention gates + squeeze-and-excitation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

from flood_jax.models.blocks import AttentionGate, ConvBlock, ModuleDef, SpatialAttention
from flood_jax.models.operations import library_operations

_LIBRARY = library_operations()


class ResUNet(nn.Module):
  """Segmentation network: [B, H, W, 3] normalised bands -> [B, H, W, 1] water logits.

  H and W must be divisible by 2 ** (len(filters) - 1). Logits are float32 whatever `dtype`
  (the compute dtype; parameters are always float32). The sigmoid is left to the loss and to
  prediction. `conv` (called like `nn.Conv`), `upsample` (like `nn.ConvTranspose(features)` with
  a 2x2 kernel and stride 2) and `pool` (2x2 max pooling) are injected, see `models.operations`;
  the defaults are the library's.
  """

  filters: Sequence[int] = (64, 128, 256, 512)
  residual: bool = True
  channel_attention: bool = True
  spatial_attention: bool = False
  attention_gates: bool = True
  se_reduction: int = 16
  dropout: float = 0.0
  dtype: str = "float32"
  conv: ModuleDef = _LIBRARY["conv"]
  upsample: ModuleDef = _LIBRARY["upsample"]
  pool: Callable[[jnp.ndarray], jnp.ndarray] = _LIBRARY["pool"]

  def _expose(self, name: str, activation: jnp.ndarray) -> jnp.ndarray:
    """Makes a block's output available to interpretability (Grad-CAM++); identity otherwise.

    `sow` records it in the "intermediates" collection and `perturb` lets a gradient be taken
    with respect to it, both only when those collections are requested as mutable.
    """
    self.sow("intermediates", name, activation)
    return self.perturb(name, activation)

  def _block(self, features: int) -> ConvBlock:
    return ConvBlock(
      features,
      residual=self.residual,
      channel_attention=self.channel_attention,
      se_reduction=self.se_reduction,
      dtype=jnp.dtype(self.dtype),
      conv=self.conv,
    )

  @nn.compact
  def __call__(self, image: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    levels = len(self.filters) - 1
    sizes = [size for size in image.shape[1:3] if isinstance(size, int)]  # not symbolic ones
    if any(size % 2**levels for size in sizes):
      raise ValueError(
        f"image size {image.shape[1]}x{image.shape[2]} is not divisible by 2**{levels} "
        f"(needed by {len(self.filters)} filter levels)"
      )
    dtype = jnp.dtype(self.dtype)
    x = image.astype(dtype)
    skips = []
    for level, features in enumerate(self.filters[:-1]):
      x = self._expose(f"encoder_{level}", self._block(features)(x, train))
      skips.append(x)
      x = self.pool(x)
    x = self._expose("bottleneck", self._block(self.filters[-1])(x, train))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    for level, (features, skip) in enumerate(
      zip(reversed(self.filters[:-1]), reversed(skips), strict=True)
    ):
      # Named explicitly: the same parameter names whichever upsampling is injected.
      x = self.upsample(features, dtype=dtype, name=f"ConvTranspose_{level}")(x)
      if self.attention_gates:
        skip = AttentionGate(max(features // 2, 1), dtype=dtype, conv=self.conv)(skip, x, train)
      if self.spatial_attention:
        skip = SpatialAttention(dtype=dtype, conv=self.conv)(skip)
      x = jnp.concatenate([x, skip], axis=-1)
      x = self._expose(f"decoder_{level}", self._block(features)(x, train))
    logits = self.conv(1, (1, 1), dtype=dtype)(x)
    return logits.astype(jnp.float32)


def build(fields: dict, injected: dict) -> ResUNet:
  """The ResUNet of a `config.model` section's fields (`models.architectures`), with the injected
  operations."""
  return ResUNet(**{**fields, "filters": tuple(fields["filters"])}, **injected)


def _switches(residual: bool, channel: bool, spatial: bool, gates: bool) -> dict[str, bool]:
  return dict(
    residual=residual, channel_attention=channel, spatial_attention=spatial, attention_gates=gates
  )


# The notebook's ablation table, plus channel and spatial attention together.
MODEL_VARIANTS: dict[str, dict[str, bool]] = {
  "unet": _switches(residual=False, channel=False, spatial=False, gates=False),
  "resunet": _switches(residual=True, channel=False, spatial=False, gates=False),
  "resunet_ag": _switches(residual=True, channel=False, spatial=False, gates=True),
  "resunet_se": _switches(residual=True, channel=True, spatial=False, gates=False),
  "resunet_ag_se": _switches(residual=True, channel=True, spatial=False, gates=True),
  "dual_attention": _switches(residual=True, channel=True, spatial=True, gates=False),
}
