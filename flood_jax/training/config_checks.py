"""Every check of a config's values, in one place: each raises ConfigError naming the field.

`validate(config)` runs before training starts (and before preprocessing), so a bad field fails
in a second rather than after data generation or compilation. The finer checks are also called
where the values arrive from elsewhere: the command line of `predict`, or the number of
processes and devices known only at run time.
"""

from __future__ import annotations

import jax
import ml_collections

from flood_jax.core.windows import check_tiling
from flood_jax.errors import ConfigError
from flood_jax.training.losses import LOSSES


def check_optimizer(opt: ml_collections.ConfigDict) -> None:
  if not opt.learning_rate > 0:
    raise ConfigError(f"config.optimizer.learning_rate={opt.learning_rate} must be > 0")
  if opt.min_learning_rate < 0 or opt.min_learning_rate > opt.learning_rate:
    raise ConfigError(
      f"config.optimizer.min_learning_rate={opt.min_learning_rate} must be in [0, learning_rate]"
    )
  if opt.name not in ("adam", "adamw", "sgd"):
    raise ConfigError(f"config.optimizer.name={opt.name!r} must be 'adam', 'adamw' or 'sgd'")
  if opt.first_period < 1 or opt.period_multiplier < 1:
    raise ConfigError("config.optimizer.first_period and period_multiplier must be >= 1")


def check_tile_sizes(config: ml_collections.ConfigDict) -> None:
  """Tiles and prediction windows must pass through every pooling level."""
  levels = len(config.model.filters) - 1
  for name, size in (
    ("data.tile_size", config.data.tile_size),
    ("predict.tile_size", config.predict.tile_size),
  ):
    if size <= 0 or size % 2**levels:
      raise ConfigError(
        f"config.{name}={size} cannot pass through {levels + 1} filter levels: "
        f"use a multiple of {2**levels}"
      )
  check_tile_stride(config.data)


def check_tile_stride(data: ml_collections.ConfigDict) -> None:
  if not 0 < data.tile_stride <= data.tile_size:
    raise ConfigError(
      f"config.data.tile_stride={data.tile_stride} must be in (0, data.tile_size={data.tile_size}]"
    )


def check_weak_fraction(data: ml_collections.ConfigDict) -> None:
  if not 0.0 <= data.weak_fraction <= 1.0:
    raise ConfigError(f"config.data.weak_fraction={data.weak_fraction} must be in [0, 1]")


def check_divisible(name: str, size: int, parts: int, what: str) -> None:
  """`config.<name>` must split evenly over `parts` devices or processes."""
  if size % parts:
    raise ConfigError(
      f"config.{name}={size} is not divisible by the {parts} {what}; use a multiple of {parts}"
    )


def check_batch_rows(batch_size: int, rows: int, source: str, processes: int) -> None:
  """The hand or weak rows of each global batch must split evenly over the processes."""
  if rows % processes:
    raise ConfigError(
      f"config.batch_size={batch_size} gives {rows} {source} rows per batch, which {processes} "
      "processes cannot share evenly; change batch_size or data.weak_fraction"
    )


def check_loop(config: ml_collections.ConfigDict) -> None:
  unknown = set(config.loss.terms) - set(LOSSES)
  if unknown:
    raise ConfigError(
      f"config.loss.terms has unknown losses {sorted(unknown)}; choose from {sorted(LOSSES)}"
    )
  water_weight = config.loss.water_weight
  if water_weight != "auto" and not (isinstance(water_weight, (int, float)) and water_weight > 0):
    raise ConfigError(f"config.loss.water_weight={water_weight!r} must be > 0 or 'auto'")
  if config.nonfinite not in ("stop", "skip"):
    raise ConfigError(f"config.nonfinite={config.nonfinite!r} must be 'stop' or 'skip'")
  if not 0 < config.threshold < 1:
    raise ConfigError(f"config.threshold={config.threshold} must be in (0, 1)")
  if config.num_train_steps < 1 or config.eval_every_steps < 1 or config.log_every_steps < 1:
    raise ConfigError("config.num_train_steps, eval_every_steps and log_every_steps must be >= 1")
  if config.batch_size < 1:
    raise ConfigError(f"config.batch_size={config.batch_size} must be >= 1")


def validate(config: ml_collections.ConfigDict) -> None:
  """Refuses a training config that would fail later or train nonsense, naming the field."""
  check_optimizer(config.optimizer)
  check_tile_sizes(config)
  check_weak_fraction(config.data)
  check_loop(config)
  check_tiling(config.predict.tile_size, config.predict.overlap, config.predict.batch_size)
  devices = jax.device_count()
  check_divisible("batch_size", config.batch_size, devices, "devices JAX sees")
  check_divisible("eval_batch_size", config.eval_batch_size, devices, "devices JAX sees")
