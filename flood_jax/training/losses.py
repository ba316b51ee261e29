"""Masked segmentation losses: only valid pixels count.

Every loss has the signature `loss(logits, label, validity, **options) -> scalar`, with
`logits` float [B, H, W, 1] (before the sigmoid), `label` 0/1 floats and `validity` bool, both
shaped like `logits`. `validity` may also be float weights >= 0 (0 where invalid): a pixel then
counts `weight` times in every sum below (training weighs real chips' labels so, see
`config.data.real_hand_weight`). Invalid pixels (no label or no input) carry exactly zero
gradient, whatever the logits and labels hold there. A batch with no valid pixel gives loss 0
and finite gradients.

Soft counts over the whole batch (p = sigmoid(logits), y = label, v = validity or weight):
    TP = sum(v p y),  FN = sum(v (1 - p) y),  FP = sum(v p (1 - y))

Tversky index (Tversky 1977; Salehi et al. 2017), with `alpha` weighting FALSE NEGATIVES and
`beta` weighting FALSE POSITIVES:
    TI = (TP + smooth) / (TP + alpha FN + beta FP + smooth)
Focal Tversky (Abraham & Khan 2019), exponent convention of the paper:
    FTL = (1 - TI) ** (1 / gamma),  gamma = 4/3 and alpha = 0.7 in their code,
so gamma > 1 raises the loss of (and the gradient towards) hard examples with TI < 1. (1 - TI)
is kept at or above `FLOOR` before the power, where the gradient of a fractional power would be
infinite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

from flood_jax.core.config import FOCAL_GAMMA, FOCAL_TVERSKY_GAMMA, TVERSKY_ALPHA, TVERSKY_BETA

FLOOR = 1e-6


def _masked(logits, label, validity):
  """Logits, labels and per-pixel weights as float32, with invalid pixels neutralised.
  `validity` is bool (weight 1 where valid) or float weights >= 0, 0 where invalid."""
  weight = validity.astype(jnp.float32)
  valid = weight > 0
  logits = jnp.where(valid, logits.astype(jnp.float32), 0.0)
  label = jnp.where(valid, label.astype(jnp.float32), 0.0)
  return logits, label, jnp.where(valid, weight, 0.0)


def _soft_counts(logits, label, validity):
  logits, label, mask = _masked(logits, label, validity)
  probability = jax.nn.sigmoid(logits)
  true_positive = jnp.sum(mask * probability * label)
  false_negative = jnp.sum(mask * (1.0 - probability) * label)
  false_positive = jnp.sum(mask * probability * (1.0 - label))
  return true_positive, false_negative, false_positive, jnp.sum(mask)


def _weighted_mean(per_pixel, weight, count):
  return jnp.where(
    count > 0, jnp.sum(per_pixel * weight) / jnp.maximum(jnp.sum(weight), 1e-12), 0.0
  )


def binary_cross_entropy(logits, label, validity, *, water_weight: float = 1.0) -> jnp.ndarray:
  """Mean cross-entropy over valid pixels; water pixels weigh `water_weight` (default 1)."""
  logits, label, mask = _masked(logits, label, validity)
  per_pixel = -(label * jax.nn.log_sigmoid(logits) + (1 - label) * jax.nn.log_sigmoid(-logits))
  weight = mask * jnp.where(label > 0, water_weight, 1.0)
  return _weighted_mean(per_pixel, weight, jnp.sum(mask))


def focal(
  logits, label, validity, *, gamma: float = FOCAL_GAMMA, water_weight: float = 1.0
) -> jnp.ndarray:
  """Focal loss (Lin et al. 2017): mean of -(1 - p_t) ** gamma log p_t over valid pixels."""
  logits, label, mask = _masked(logits, label, validity)
  log_p_true = label * jax.nn.log_sigmoid(logits) + (1 - label) * jax.nn.log_sigmoid(-logits)
  per_pixel = -((1.0 - jnp.exp(log_p_true)) ** gamma) * log_p_true
  weight = mask * jnp.where(label > 0, water_weight, 1.0)
  return _weighted_mean(per_pixel, weight, jnp.sum(mask))


def dice(logits, label, validity, *, smooth: float = 1.0) -> jnp.ndarray:
  """1 - (2 TP + smooth) / (2 TP + FP + FN + smooth), soft counts over valid pixels."""
  true_positive, false_negative, false_positive, count = _soft_counts(logits, label, validity)
  score = (2 * true_positive + smooth) / (
    2 * true_positive + false_positive + false_negative + smooth
  )
  return jnp.where(count > 0, 1.0 - score, 0.0)


def tversky_index(logits, label, validity, *, alpha: float, beta: float, smooth: float):
  true_positive, false_negative, false_positive, count = _soft_counts(logits, label, validity)
  index = (true_positive + smooth) / (
    true_positive + alpha * false_negative + beta * false_positive + smooth
  )
  return index, count


def tversky(
  logits,
  label,
  validity,
  *,
  alpha: float = TVERSKY_ALPHA,
  beta: float = TVERSKY_BETA,
  smooth: float = 1.0,
):
  """1 - TI; `alpha` weighs false negatives, `beta` false positives."""
  index, count = tversky_index(logits, label, validity, alpha=alpha, beta=beta, smooth=smooth)
  return jnp.where(count > 0, 1.0 - index, 0.0)


def focal_tversky(
  logits,
  label,
  validity,
  *,
  alpha: float = TVERSKY_ALPHA,
  beta: float = TVERSKY_BETA,
  gamma: float = FOCAL_TVERSKY_GAMMA,
  smooth: float = 1.0,
) -> jnp.ndarray:
  """(1 - TI) ** (1 / gamma) (Abraham & Khan 2019); alpha weighs FN, beta FP."""
  index, count = tversky_index(logits, label, validity, alpha=alpha, beta=beta, smooth=smooth)
  return jnp.where(count > 0, jnp.maximum(1.0 - index, FLOOR) ** (1.0 / gamma), 0.0)


LOSSES: dict[str, Callable[..., jnp.ndarray]] = {
  "binary_cross_entropy": binary_cross_entropy,
  "dice": dice,
  "tversky": tversky,
  "focal": focal,
  "focal_tversky": focal_tversky,
}


def loss_options(loss_config) -> dict[str, dict[str, float]]:
  """Keyword options of each loss from a `config.loss` section."""
  tversky_options = {"alpha": loss_config.tversky_alpha, "beta": loss_config.tversky_beta}
  return {
    "binary_cross_entropy": {"water_weight": loss_config.water_weight},
    "dice": {},
    "tversky": tversky_options,
    "focal": {"gamma": loss_config.focal_gamma, "water_weight": loss_config.water_weight},
    "focal_tversky": {**tversky_options, "gamma": loss_config.focal_tversky_gamma},
  }


def combined_loss(
  logits,
  label,
  validity,
  terms: Mapping[str, float],
  options: Mapping[str, Mapping] | None = None,
) -> jnp.ndarray:
  """Weighted sum of named losses, e.g. terms={"focal_tversky": 1.0, "binary_cross_entropy": 0.5}."""
  unknown = set(terms) - set(LOSSES)
  if unknown:
    raise ValueError(f"unknown loss terms {sorted(unknown)}; choose from {sorted(LOSSES)}")
  options = options or {}
  return sum(
    weight * LOSSES[name](logits, label, validity, **options.get(name, {}))
    for name, weight in terms.items()
  )
