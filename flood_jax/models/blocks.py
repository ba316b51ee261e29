"""Building blocks of the ResUNet family: pure Flax linen modules, NHWC tensors."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

Dtype = Any


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

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    pooled = jnp.concatenate([x.mean(-1, keepdims=True), x.max(-1, keepdims=True)], axis=-1)
    size = (self.kernel_size, self.kernel_size)
    return x * nn.sigmoid(nn.Conv(1, size, padding="SAME", dtype=self.dtype)(pooled))


class AttentionGate(nn.Module):
  """Additive attention gate on a skip connection (Oktay et al. 2018, Attention U-Net).

  skip: [B, H, W, C] encoder features; gating: [B, H, W, G] decoder features at the same size.
  Returns the skip scaled by a [B, H, W, 1] coefficient in (0, 1).
  """

  inter_channels: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, skip: jnp.ndarray, gating: jnp.ndarray, train: bool) -> jnp.ndarray:
    theta = nn.Conv(self.inter_channels, (1, 1), use_bias=False, dtype=self.dtype)(skip)
    phi = nn.Conv(self.inter_channels, (1, 1), dtype=self.dtype)(gating)
    psi = nn.Conv(1, (1, 1), dtype=self.dtype)(nn.relu(theta + phi))
    psi = nn.BatchNorm(use_running_average=not train, dtype=self.dtype)(psi)
    return skip * nn.sigmoid(psi)


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

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)  # noqa: E731
    conv = lambda: nn.Conv(self.filters, (3, 3), padding="SAME", use_bias=False, dtype=self.dtype)  # noqa: E731
    y = nn.relu(norm()(conv()(x)))
    y = norm()(conv()(y))
    if self.channel_attention:
      y = SqueezeExcitation(self.se_reduction, dtype=self.dtype)(y)
    if self.residual:
      shortcut = nn.Conv(self.filters, (1, 1), use_bias=False, dtype=self.dtype)(x)
      y = y + norm()(shortcut)
    return nn.relu(y)
