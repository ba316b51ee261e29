"""Training loop: `train_and_evaluate(config, workdir)`.

One jitted `train_step(state, batch) -> (state, metrics)` applies the configured masked loss
and an optax SGDR schedule; one jitted `eval_step(state, batch) -> metrics` returns summed
confusion counts. Both run data-parallel over a mesh of every device (see `parallel`). The best
model by validation IoU and the latest state are checkpointed with Orbax; a restarted run with
the same workdir resumes exactly where the last checkpoint left it, data iterator included.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from clu import parameter_overview
from flax.training import train_state

from flood_jax import checkpoints as checkpoints_lib
from flood_jax import losses, parallel, plots
from flood_jax.data import pipeline
from flood_jax.data.stats import load_stats, save_stats
from flood_jax.errors import ConfigError, DataError, FloodJaxError
from flood_jax.logs import MetricsCSV, Progress, TensorBoard, write_json
from flood_jax.metrics import SegmentationMetrics, confusion_counts, flatten
from flood_jax.models import ResUNet, model_from_config


class TrainState(train_state.TrainState):
  batch_stats: Any


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Refuses configs that would fail later or train nonsense, naming the field."""
  opt, data = config.optimizer, config.data
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
  levels = len(config.model.filters) - 1
  for name, size in (
    ("data.tile_size", data.tile_size),
    ("predict.tile_size", config.predict.tile_size),
  ):
    if size <= 0 or size % 2**levels:
      raise ConfigError(
        f"config.{name}={size} cannot pass through {levels + 1} filter levels: use a multiple of {2**levels}"
      )
  if not 0 < data.tile_stride <= data.tile_size:
    raise ConfigError(
      f"config.data.tile_stride={data.tile_stride} must be in (0, data.tile_size={data.tile_size}]"
    )
  unknown = set(config.loss.terms) - set(losses.LOSSES)
  if unknown:
    raise ConfigError(
      f"config.loss.terms has unknown losses {sorted(unknown)}; choose from {sorted(losses.LOSSES)}"
    )
  if config.nonfinite not in ("stop", "skip"):
    raise ConfigError(f"config.nonfinite={config.nonfinite!r} must be 'stop' or 'skip'")
  if not 0 < config.threshold < 1:
    raise ConfigError(f"config.threshold={config.threshold} must be in (0, 1)")
  if config.num_train_steps < 1 or config.eval_every_steps < 1 or config.log_every_steps < 1:
    raise ConfigError("config.num_train_steps, eval_every_steps and log_every_steps must be >= 1")
  if config.batch_size < 1:
    raise ConfigError(f"config.batch_size={config.batch_size} must be >= 1")
  parallel.check_batch_size("batch_size", config.batch_size)
  parallel.check_batch_size("eval_batch_size", config.eval_batch_size)


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


def create_train_state(config, model: ResUNet, rng: jax.Array, tile_size: int) -> TrainState:
  variables = model.init({"params": rng}, jnp.zeros((1, tile_size, tile_size, 3)), train=False)
  schedule = learning_rate_schedule(config.optimizer, config.num_train_steps)
  return TrainState.create(
    apply_fn=model.apply,
    params=variables["params"],
    batch_stats=variables["batch_stats"],
    tx=make_optimizer(config.optimizer, schedule),
  )


def make_loss_fn(loss_config):
  options = losses.loss_options(loss_config)
  terms = dict(loss_config.terms)
  return functools.partial(losses.combined_loss, terms=terms, options=options)


def train_step(state: TrainState, batch: dict, *, loss_fn, dropout_seed: int, threshold: float):
  """One optimisation step. A non-finite loss or gradient leaves the parameters unchanged."""
  dropout_key = jax.random.fold_in(jax.random.key(dropout_seed), state.step)

  def compute_loss(params):
    logits, updates = state.apply_fn(
      {"params": params, "batch_stats": state.batch_stats},
      batch["image"],
      train=True,
      rngs={"dropout": dropout_key},
      mutable=["batch_stats"],
    )
    return loss_fn(logits, batch["label"], batch["validity"]), (logits, updates["batch_stats"])

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(compute_loss, has_aux=True)(
    state.params
  )
  grad_norm = optax.tree.norm(grads)
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  updated = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), updated, state)
  new_state = new_state.replace(step=state.step + 1)
  metrics = {
    "loss": loss,
    "grad_norm": grad_norm,
    "finite": finite,
    "counts": confusion_counts(logits, batch["label"], batch["validity"], threshold),
  }
  return new_state, metrics


def eval_step(state: TrainState, batch: dict, *, loss_fn, threshold: float) -> dict:
  logits = state.apply_fn(
    {"params": state.params, "batch_stats": state.batch_stats}, batch["image"], train=False
  )
  return {
    "loss": loss_fn(logits, batch["label"], batch["validity"]),
    "valid_pixels": jnp.sum(batch["validity"]),
    "counts": confusion_counts(logits, batch["label"], batch["validity"], threshold),
    "logits": logits,
  }


def step_metrics(output: dict) -> SegmentationMetrics:
  """A metrics collection from one step's outputs (host side, exact int64 counts)."""
  # A padding-only evaluation batch has no valid pixel: its loss (0) must not enter the average.
  has_pixels = np.asarray([output.get("valid_pixels", 1) > 0])
  return SegmentationMetrics.single_from_model_output(
    counts=np.asarray(output["counts"], np.int64),
    loss=np.asarray([output["loss"]], np.float64),
    mask=has_pixels,
  )


class Trainer:
  """The jitted steps of one config on one mesh, shared by training, evaluation and reports."""

  def __init__(self, config: ml_collections.ConfigDict, tile_size: int | None = None, devices=None):
    self.config = config
    self.mesh = parallel.make_mesh(devices)
    self.model = model_from_config(config.model)
    self.tile_size = tile_size or config.data.tile_size
    loss_fn = make_loss_fn(config.loss)
    replicated, data = parallel.replicated(self.mesh), parallel.data_sharding(self.mesh)
    self.train_step = jax.jit(
      functools.partial(
        train_step, loss_fn=loss_fn, dropout_seed=config.seed + 1, threshold=config.threshold
      ),
      in_shardings=(replicated, data),
      out_shardings=(replicated, replicated),
      donate_argnums=0,
    )
    self.eval_step = jax.jit(
      functools.partial(eval_step, loss_fn=loss_fn, threshold=config.threshold),
      in_shardings=(replicated, data),
      out_shardings={
        "loss": replicated,
        "valid_pixels": replicated,
        "counts": replicated,
        "logits": data,
      },
    )

  def initial_state(self) -> TrainState:
    rng = jax.random.key(self.config.seed)
    return create_train_state(self.config, self.model, rng, self.tile_size)

  def replicate(self, state: TrainState) -> TrainState:
    return jax.device_put(state, parallel.replicated(self.mesh))

  def evaluate(self, state, batches, on_batch=None) -> SegmentationMetrics | None:
    """Summed metrics over local batches from `pipeline.eval_batches`; None if there are none."""
    total = None
    for local in batches:
      device_batch = parallel.global_batch(
        {k: local[k] for k in ("image", "label", "validity")}, self.mesh
      )
      output = self.eval_step(state, device_batch)
      metrics = step_metrics(
        jax.device_get({k: output[k] for k in ("loss", "valid_pixels", "counts")})
      )
      total = metrics if total is None else total.merge(metrics)
      if on_batch is not None:
        on_batch(local, output)
    return total


def _generate_synthetic(config, workdir: Path) -> Path:
  from flood_jax.data.synthetic import generate_dataset

  root = workdir / "synthetic" / "v1.1"
  if not (root / "splits").exists():
    partial = workdir / "synthetic.partial"
    shutil.rmtree(partial, ignore_errors=True)
    logging.info("No data root given: generating synthetic Sen1Floods11 data in %s", root)
    generate_dataset(
      partial / "v1.1", config.data.synthetic_hand, config.data.synthetic_weak, config.seed
    )
    shutil.rmtree(workdir / "synthetic", ignore_errors=True)
    partial.rename(workdir / "synthetic")
  return root


def prepare_data(config: ml_collections.ConfigDict, workdir: Path) -> tuple[Path, dict]:
  """Makes sure tiles exist (generating synthetic data if no root is set); returns (store, stats).

  Process 0 does the work on a filesystem shared by all hosts; the others wait for it.
  """
  from flood_jax.preprocess import is_complete, preprocess

  store = Path(config.data.preprocessed or workdir / "tiles")
  if jax.process_index() == 0 and not is_complete(store):
    data_config = ml_collections.ConfigDict(config.to_dict())
    if not data_config.data.root:
      data_config.data.root = str(_generate_synthetic(config, workdir))
    logging.info("Preprocessing %s into %s", data_config.data.root, store)
    preprocess(data_config, store)
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices("flood_jax data ready")
  manifest = json.loads((store / "manifest.json").read_text())
  if manifest["tile_size"] != config.data.tile_size:
    raise DataError(
      f"{store}: holds {manifest['tile_size']}-px tiles but config.data.tile_size="
      f"{config.data.tile_size}; preprocess again or point config.data.preprocessed elsewhere"
    )
  stats = load_stats(config.data.stats_from or store / "stats.json")
  return store, stats


def _sample_panel(batch: dict, logits: np.ndarray, count: int) -> np.ndarray:
  """[N, T, 3T, 3]: band 1 (VV) grey, truth (invalid red), prediction."""
  panels = []
  for row in range(min(count, len(logits))):
    validity = batch["validity"][row, ..., 0]
    vv = np.clip((batch["image"][row, ..., 0] + 2.5) / 5, 0, 1)
    grey = np.repeat(vv[..., None], 3, -1)
    truth = plots.mask_image(batch["label"][row, ..., 0], validity)
    predicted = plots.mask_image(logits[row, ..., 0] > 0)
    panels.append(np.concatenate([grey, truth, predicted], axis=1))
  return np.stack(panels) if panels else np.zeros((0, 1, 1, 3))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
  """Trains, evaluates on validation every N steps, checkpoints, and reports test metrics.

  Returns the contents of results.json: {"test": {...}, "bolivia": {...}, "valid": {...}}.
  """
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  validate_config(config)
  store, stats = prepare_data(config, workdir)
  is_chief = jax.process_index() == 0
  if is_chief:
    write_json(workdir / "config.json", config.to_dict())
    save_stats(workdir / "stats.json", stats)

  trainer = Trainer(config)
  state = trainer.initial_state()
  parameter_overview.log_parameter_overview(state.params)
  checkpoints = checkpoints_lib.Checkpoints(workdir)
  iterator = pipeline.to_iterator(
    pipeline.train_dataset(store, config, stats, jax.process_index(), jax.process_count()), config
  )
  extra = {
    "best_iou": -1.0,
    "best_step": 0,
    "evals_without_improvement": 0,
    "early_stopped": False,
    "skipped_steps": 0,
  }
  start_step = 0
  if checkpoints.latest_step() is not None:
    state, extra = checkpoints.restore(checkpoints.latest, checkpoints_lib.abstract(state))
    iterator.set_state(extra.pop("iterator"))
    start_step = int(state.step)
    logging.info("Resumed from step %d in %s", start_step, workdir)
  state = trainer.replicate(state)

  history = MetricsCSV(workdir / "metrics.csv", start_step)
  tensorboard = TensorBoard(workdir / "tensorboard")
  progress = Progress(config.num_train_steps, config.batch_size, start_step)
  schedule = learning_rate_schedule(config.optimizer, config.num_train_steps)
  valid_batches = pipeline.eval_batches(
    store, "valid", config, stats, ("hand",), jax.process_index(), jax.process_count()
  )
  if len(valid_batches) == 0:
    raise DataError(
      f"{store}: no validation tile; early stopping and the best-IoU checkpoint need a valid split"
    )

  train_metrics = None
  step = start_step
  try:
    while step < config.num_train_steps and not extra["early_stopped"]:
      local_batch = next(iterator)
      state, output = trainer.train_step(state, parallel.global_batch(local_batch, trainer.mesh))
      step += 1
      output = jax.device_get(output)
      if not output["finite"]:
        extra["skipped_steps"] += 1
        if config.nonfinite == "stop":
          raise FloodJaxError(
            f"non-finite loss or gradient at step {step} (loss {output['loss']}); the parameters were "
            f"not updated and no checkpoint was written from it. Lower config.optimizer.learning_rate "
            f"or set config.nonfinite='skip' to skip such steps"
          )
        logging.warning("Skipped step %d: non-finite loss or gradient", step)
      metrics = step_metrics(output)
      train_metrics = metrics if train_metrics is None else train_metrics.merge(metrics)

      if step % config.log_every_steps == 0:
        summary = flatten(train_metrics)
        progress.line(step, summary["loss"], float(schedule(step)))
        tensorboard.scalars(step, {**summary, "learning_rate": float(schedule(step))}, "train/")

      if step % config.eval_every_steps == 0 or step == config.num_train_steps:
        samples = {}

        def keep_sample(local, output, samples=samples):
          if not samples and (local["index"] >= 0).any():
            samples["image"] = _sample_panel(
              local, parallel.local_rows(output["logits"]), config.num_sample_images
            )

        valid = flatten(trainer.evaluate(state, valid_batches, keep_sample if is_chief else None))
        train_summary = flatten(train_metrics) if train_metrics is not None else {}
        train_metrics = None
        row = {
          "step": step,
          "learning_rate": float(schedule(step)),
          "train_loss": train_summary.get("loss", float("nan")),
          "train_iou": train_summary.get("iou", float("nan")),
          **{f"valid_{name}": value for name, value in valid.items()},
        }
        history.append(row)
        tensorboard.scalars(step, valid, "valid/")
        if samples:
          tensorboard.images(step, "valid/samples_vv_truth_prediction", samples["image"])
        iou = valid["iou"] if math.isfinite(valid["iou"]) else -1.0
        logging.info(
          "step %d validation: IoU %.4f  mean IoU %.4f  loss %.4f",
          step,
          valid["iou"],
          valid["mean_iou"],
          valid["loss"],
        )
        if iou > extra["best_iou"]:
          extra.update(best_iou=iou, best_step=step, evals_without_improvement=0)
          checkpoints.save_best(step, state, dict(extra), {"iou": iou})
        else:
          extra["evals_without_improvement"] += 1
        if extra["evals_without_improvement"] >= config.early_stopping_patience:
          logging.info(
            "Early stopping at step %d: no better validation IoU in %d evaluations",
            step,
            config.early_stopping_patience,
          )
          extra["early_stopped"] = True
        checkpoints.save_latest(step, state, {**extra, "iterator": iterator.get_state()})
  finally:
    # Whatever stops the loop (an error, Ctrl-C), a checkpoint being written is completed.
    checkpoints.wait()
    tensorboard.close()

  results = final_evaluation(trainer, checkpoints, state, store, config, stats, workdir)
  checkpoints.close()
  if is_chief:
    write_json(workdir / "results.json", results)
    plots.plot_history(workdir / "metrics.csv", workdir / "plots" / "history.png")
  test_iou = results.get("test", {}).get("iou", float("nan"))
  logging.info(
    "Best step %d (validation IoU %.4f); test IoU %.4f",
    extra["best_step"],
    extra["best_iou"],
    test_iou,
  )
  return results


def final_evaluation(trainer, checkpoints, state, store, config, stats, workdir) -> dict:
  """Metrics of the best checkpoint on every held-out split that has tiles."""
  best_state, best_extra = checkpoints.restore(checkpoints.best, checkpoints_lib.abstract(state))
  best_state = trainer.replicate(best_state)
  results = {"best_step": int(best_extra.get("best_step", 0))}
  for split in ("valid", "test", "bolivia"):
    batches = pipeline.eval_batches(
      store, split, config, stats, ("hand",), jax.process_index(), jax.process_count()
    )
    if len(batches):
      results[split] = flatten(trainer.evaluate(best_state, batches))
  return results
