"""The training state and what builds it: `TrainState`, the SGDR schedule, the optimiser and
`initial_state` (parameters seeded by config.seed; under `jax.eval_shape`, the abstract state a
checkpoint is restored into)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax.training import train_state

from flood_jax.models import ResUNet


class TrainState(train_state.TrainState):
  batch_stats: Any


def learning_rate_schedule(opt: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
  """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017), warm-up per cycle."""
  cycles, period, covered = [], opt.first_period, 0
  while covered < num_steps:
    cycles.append(
      dict(
        init_value=opt.min_learning_rate,
        peak_value=opt.learning_rate,
        warmup_steps=min(opt.warmup_steps, period - 1),
        decay_steps=period,
        end_value=opt.min_learning_rate,
      )
    )
    covered += period
    period = int(period * opt.period_multiplier)
  return optax.sgdr_schedule(cycles)


def make_optimizer(opt: ml_collections.ConfigDict, schedule: optax.Schedule):
  if opt.name == "adamw":
    optimizer = optax.adamw(schedule, weight_decay=opt.weight_decay)
  elif opt.name == "adam":
    optimizer = optax.adam(schedule)
  else:
    optimizer = optax.sgd(schedule, momentum=0.9)
  if opt.grad_clip_norm > 0:
    optimizer = optax.chain(optax.clip_by_global_norm(opt.grad_clip_norm), optimizer)
  return optimizer


def create_train_state(model: ResUNet, rng: jax.Array, tile_size: int, tx) -> TrainState:
  variables = model.init({"params": rng}, jnp.zeros((1, tile_size, tile_size, 3)), train=False)
  return TrainState.create(
    apply_fn=model.apply,
    params=variables["params"],
    batch_stats=variables["batch_stats"],
    tx=tx,
  )


def initial_state(config: ml_collections.ConfigDict, model, tile_size: int) -> TrainState:
  """The state a run starts from: parameters seeded by config.seed, the optimiser's state.
  Under `jax.eval_shape`, the abstract state a checkpoint is restored into."""
  schedule = learning_rate_schedule(config.optimizer, config.num_train_steps)
  tx = make_optimizer(config.optimizer, schedule)
  return create_train_state(model, jax.random.key(config.seed), tile_size, tx)
