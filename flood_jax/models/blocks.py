"""Building blocks of the ResUNet family: pure Flax linen modules, NHWC tensors.

Blocks take the convolution they use as a module (`conv`, called like `nn.Conv`), chosen once in
`models.operations`; they know nothing of devices or speed.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

Dtype = Any
ModuleDef = Any


def max_pool2x(x: jnp.ndarray) -> jnp.ndarray:
  """2x2 max pooling with stride 2, [B, H, W, C] -> [B, H/2, W/2, C], as a reshape and a max.

  Equal to `nn.max_pool(x, (2, 2), strides=(2, 2))` for even H and W. XLA's CPU backend
  computes the gradient of that reduce-window through an argmax with index tensors (about 0.5 s
  of a 4.5 s best-config training step); the reshaped max's gradient is a compare and select.
  The two gradients differ only on exact ties, where lax's picks the first of the equal pixels
  and jnp.max's splits between them; in the ResUNet, ties are ReLU zeros, whose gradient the
  ReLU discards either way. tests/test_models.py checks both.
  """
  batch, height, width, channels = x.shape
  return x.reshape(batch, height // 2, 2, width // 2, 2, channels).max(axis=(2, 4))


class SqueezeExcitation(nn.Module):
  """Channel attention (Hu et al. 2018): [B, H, W, C] -> same, channels reweighted in (0, 1)."""

  reduction: int = 16
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    channels = x.shape[-1]
    squeezed = jnp.mean(x, axis=(1, 2))
    hidden = nn.relu(nn.Dense(max(channels // self.reduction, 4), dtype=self.dtype)(squeezed))
    weights = nn.sigmoid(nn.Dense(channels, dtype=self.dtype)(hidden))
    return x * weights[:, None, None, :]


class SpatialAttention(nn.Module):
  """Spatial attention (CBAM, Woo et al. 2018): a [B, H, W, 1] map from channel mean and max."""

  kernel_size: int = 7
  dtype: Dtype = jnp.float32
  conv: ModuleDef = nn.Conv

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    pooled = jnp.concatenate([x.mean(-1, keepdims=True), x.max(-1, keepdims=True)], axis=-1)
    size = (self.kernel_size, self.kernel_size)
    return x * nn.sigmoid(self.conv(1, size, padding="SAME", dtype=self.dtype)(pooled))


class AttentionGate(nn.Module):
  """Additive attention gate on a skip connection (Oktay et al. 2018, Attention U-Net).

  skip: [B, H, W, C] encoder features; gating: [B, H, W, G] decoder features at the same size.
  Returns the skip scaled by a [B, H, W, 1] coefficient in (0, 1).
  """

  inter_channels: int
  dtype: Dtype = jnp.float32
  conv: ModuleDef = nn.Conv

  @nn.compact
  def __call__(self, skip: jnp.ndarray, gating: jnp.ndarray, train: bool) -> jnp.ndarray:
    theta = self.conv(self.inter_channels, (1, 1), use_bias=False, dtype=self.dtype)(skip)
    phi = self.conv(self.inter_channels, (1, 1), dtype=self.dtype)(gating)
    psi = self.conv(1, (1, 1), dtype=self.dtype)(nn.relu(theta + phi))
    psi = nn.BatchNorm(use_running_average=not train, dtype=self.dtype)(psi)
    return skip * nn.sigmoid(psi)


class Upsample2x(nn.Module):
  """Learned 2x upsampling, [B, H, W, C] -> [B, 2H, 2W, features].

  The same function and parameters (`kernel` [2, 2, C, features], `bias`) as
  `nn.ConvTranspose(features, (2, 2), strides=(2, 2))`, computed differently. With a 2x2 kernel
  and stride 2 the output windows do not overlap: output pixel (2h + i, 2w + j) is input pixel
  (h, w) times kernel tap (1 - i, 1 - j). One matrix product per pixel followed by a
  depth-to-space reshape does that, whereas XLA lowers the transposed convolution (and its
  gradients) to a zero-dilated convolution, which its CPU backend runs about 50x slower.
  tests/test_models.py checks outputs and gradients against `nn.ConvTranspose`.
  """

  features: int
  dtype: Dtype = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    batch, height, width, channels = x.shape
    kernel = self.param("kernel", self.kernel_init, (2, 2, channels, self.features))
    bias = self.param("bias", self.bias_init, (self.features,))
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = jnp.einsum("bhwc,ijcd->bhiwjd", x, kernel[::-1, ::-1])
    return y.reshape(batch, 2 * height, 2 * width, self.features) + bias


class ConvBlock(nn.Module):
  """Two 3x3 conv + batch norm + ReLU, optionally residual and with squeeze-and-excitation.

  [B, H, W, C_in] -> [B, H, W, filters]. With `residual` the input joins through a 1x1
  projection before the final ReLU (ResUNet, Zhang et al. 2018).
  """

  filters: int
  residual: bool = True
  channel_attention: bool = False
  se_reduction: int = 16
  dtype: Dtype = jnp.float32
  conv: ModuleDef = nn.Conv

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)  # noqa: E731
    conv = lambda: self.conv(self.filters, (3, 3), padding="SAME", use_bias=False, dtype=self.dtype)  # noqa: E731
    y = nn.relu(norm()(conv()(x)))
    y = norm()(conv()(y))
    if self.channel_attention:
      y = SqueezeExcitation(self.se_reduction, dtype=self.dtype)(y)
    if self.residual:
      shortcut = self.conv(self.filters, (1, 1), use_bias=False, dtype=self.dtype)(x)
      y = y + norm()(shortcut)
    return nn.relu(y)
