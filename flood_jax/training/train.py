"""Training loop: `train_and_evaluate(config, workdir)`.

One jitted `train_step(state, batch) -> (state, metrics)` applies the configured masked loss
and an optax SGDR schedule; one jitted `eval_step(state, batch) -> metrics` returns summed
confusion counts. Both run data-parallel over a mesh of every device (see `parallel`). The best
model by validation IoU and the latest state are checkpointed with Orbax; a restarted run with
the same workdir resumes exactly where the last checkpoint left it, data iterator included.
"""

from __future__ import annotations

import dataclasses
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

from flood_jax.core.files import write_json
from flood_jax.core.metrics import (
  THRESHOLD_BINS,
  SegmentationMetrics,
  calibrate_threshold,
  confusion_counts,
  flatten,
  probability_histograms,
)
from flood_jax.dataset.stats import CLASS_WEIGHTS_FILE, load_class_weights, load_stats, save_stats
from flood_jax.errors import ConfigError, DataError
from flood_jax.models import model_from_config
from flood_jax.training import checkpoints as checkpoints_lib
from flood_jax.training import config_checks, history, losses, parallel, pipeline, restore
from flood_jax.training.logs import RunLogs
from flood_jax.training.restore import THRESHOLD_FILE
from flood_jax.training.state import TrainState, initial_state, learning_rate_schedule
from flood_jax.training.tile_store import real_roots_of


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
    return loss_fn(logits, batch["label"], weights), (logits, updates["batch_stats"])

  # Each valid pixel counts with its tile's label weight (real chips: config.data.real_*_weight).
  weights = batch["validity"] * batch["weight"] if "weight" in batch else batch["validity"]

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


def eval_step(state: TrainState, batch: dict, threshold: jax.Array, *, loss_fn) -> dict:
  """Loss, counts at `threshold` (a water probability), and the logits of one batch."""
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
    self.platform = parallel.platform(self.mesh)
    self.model = model_from_config(config.model, self.platform)
    self.tile_size = tile_size or config.data.tile_size
    self.schedule = learning_rate_schedule(config.optimizer, config.num_train_steps)
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
      functools.partial(eval_step, loss_fn=loss_fn),
      in_shardings=(replicated, data, replicated),
      out_shardings={
        "loss": replicated,
        "valid_pixels": replicated,
        "counts": replicated,
        "logits": data,
      },
    )
    self.histogram_step = jax.jit(
      lambda state, batch: probability_histograms(
        state.apply_fn(
          {"params": state.params, "batch_stats": state.batch_stats}, batch["image"], train=False
        ),
        batch["label"],
        batch["validity"],
      ),
      in_shardings=(replicated, data),
      out_shardings=replicated,
    )

    self.probability_step = jax.jit(
      lambda state, images: jax.nn.sigmoid(
        state.apply_fn(
          {"params": state.params, "batch_stats": state.batch_stats}, images, train=False
        )[..., 0]
      )
    )

  def initial_state(self) -> TrainState:
    return initial_state(self.config, self.model, self.tile_size)

  def replicate(self, state: TrainState) -> TrainState:
    return jax.device_put(state, parallel.replicated(self.mesh))

  def _device_batch(self, local: dict) -> dict:
    return parallel.global_batch({k: local[k] for k in ("image", "label", "validity")}, self.mesh)

  def evaluate(
    self, state, batches, on_batch=None, threshold: float | None = None
  ) -> SegmentationMetrics | None:
    """Summed metrics over local batches from `pipeline.eval_batches` (water where the
    probability is above `threshold`, default config.threshold); None if there are none."""
    threshold = jnp.float32(self.config.threshold if threshold is None else threshold)
    total = None
    for local in batches:
      output = self.eval_step(state, self._device_batch(local), threshold)
      metrics = step_metrics(
        jax.device_get({k: output[k] for k in ("loss", "valid_pixels", "counts")})
      )
      total = metrics if total is None else total.merge(metrics)
      if on_batch is not None:
        on_batch(local, output)
    return total

  def probability_histograms(self, state, batches) -> np.ndarray:
    """float64 [2, bins] of valid dry and water pixels by water probability over all batches."""
    total = np.zeros((2, THRESHOLD_BINS))
    for local in batches:
      total += np.asarray(jax.device_get(self.histogram_step(state, self._device_batch(local))))
    return total


def prepare_data(config: ml_collections.ConfigDict, workdir: Path) -> tuple[Path, dict]:
  """Makes sure tiles exist (generating synthetic data if no root is set); returns (store, stats).

  Process 0 does the work on a filesystem shared by all hosts; the others wait for it.
  """
  from flood_jax.dataset.synthetic import ensure_synthetic_root
  from flood_jax.training.tile_store import is_complete, preprocess

  store = Path(config.data.preprocessed or workdir / "tiles")
  if jax.process_index() == 0 and not is_complete(store):
    data_config = ml_collections.ConfigDict(config.to_dict())
    if not data_config.data.root:
      data_config.data.root = str(ensure_synthetic_root(config, workdir))
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
  if [str(Path(root).resolve()) for root in manifest.get("real_roots", [])] != real_roots_of(
    config.data
  ):
    raise DataError(
      f"{store}: holds the real chips of {manifest.get('real_roots', [])}, not of "
      f"config.data.real_roots={list(config.data.real_roots)}; preprocess into another folder"
    )
  if config.data.stats_from or not config.init_from:
    return store, load_stats(config.data.stats_from or store / "stats.json")
  return store, restore.starting_point(config.init_from)[1]


def resolve_water_weight(config: ml_collections.ConfigDict, store: Path):
  """`config`, with loss.water_weight="auto" replaced by the training pixels' balanced weight."""
  if config.loss.water_weight != "auto":
    return config
  weight = load_class_weights(store / CLASS_WEIGHTS_FILE)["water_weight"]
  logging.info("loss.water_weight='auto': %.4f (class weights of %s)", weight, store)
  fields = config.to_dict()
  fields["loss"]["water_weight"] = weight
  return ml_collections.ConfigDict(fields)


@dataclasses.dataclass
class Run:
  """What the loop advances and a checkpoint restores: the state, the data iterator's position
  and the bookkeeping of early stopping."""

  state: TrainState
  iterator: Any
  step: int = 0
  extra: dict = dataclasses.field(
    default_factory=lambda: {
      "best_iou": -1.0,
      "best_step": 0,
      "evals_without_improvement": 0,
      "early_stopped": False,
      "skipped_steps": 0,
    }
  )

  @property
  def finished(self) -> bool:
    return self.extra["early_stopped"]


def start_or_resume(trainer: Trainer, checkpoints, store: Path, stats: dict, workdir: Path) -> Run:
  """A fresh run, or the latest checkpoint of `workdir` with its iterator position."""
  config = trainer.config
  dataset = pipeline.train_dataset(store, config, stats, jax.process_index(), jax.process_count())
  run = Run(trainer.initial_state(), pipeline.to_iterator(dataset, config))
  parameter_overview.log_parameter_overview(run.state.params)
  if checkpoints.latest_step() is None and config.init_from:
    run.state = restore.started_from(run.state, config.init_from)
    logging.info("Fine-tuning from %s", config.init_from)
  if checkpoints.latest_step() is not None:
    run.state, run.extra = checkpoints.restore(
      checkpoints.latest, checkpoints_lib.abstract(run.state)
    )
    run.iterator.set_state(run.extra.pop("iterator"))
    run.step = int(run.state.step)
    logging.info("Resumed from step %d in %s", run.step, workdir)
  run.state = trainer.replicate(run.state)
  return run


def fetch_step_metrics(pending: list[tuple[int, dict]], run: Run, nonfinite: str, total=None):
  """Fetches the outputs of the steps since the last fetch (one transfer), merged into `total`
  step by step in order (so the sums are those of a per-step merge, to the bit).

  The non-finite check happens here, before any evaluation or checkpoint: a non-finite step left
  the parameters unchanged on the device; with `nonfinite="stop"` it ends the run naming the
  first such step, with "skip" it is counted and logged.
  """
  outputs = jax.device_get([output for _, output in pending])
  for (step, _), output in zip(pending, outputs, strict=True):
    if not output["finite"]:
      run.extra["skipped_steps"] += 1
      if nonfinite == "stop":
        raise ConfigError(
          f"non-finite loss or gradient at step {step} (loss {output['loss']}); that step did "
          "not update the parameters and no checkpoint was written after it. Lower "
          "config.optimizer.learning_rate or set config.nonfinite='skip' to skip such steps"
        )
      logging.warning("Skipped step %d: non-finite loss or gradient", step)
    metrics = step_metrics(output)
    total = metrics if total is None else total.merge(metrics)
  pending.clear()
  return total


def validate(trainer: Trainer, run: Run, valid_batches, with_samples: bool) -> tuple[dict, dict]:
  """Validation metrics, and a panel of the first predictions for TensorBoard."""
  samples = {}

  def keep_sample(local, output):
    if not samples and (local["index"] >= 0).any():
      samples["image"] = history.sample_panel(
        local, parallel.local_rows(output["logits"]), trainer.config.num_sample_images
      )

  metrics = trainer.evaluate(run.state, valid_batches, keep_sample if with_samples else None)
  return flatten(metrics), samples


def update_best(run: Run, checkpoints, iou: float, patience: int) -> None:
  """Saves a better model as best; counts evaluations without improvement for early stopping."""
  extra = run.extra
  if iou > extra["best_iou"]:
    extra.update(best_iou=iou, best_step=run.step, evals_without_improvement=0)
    checkpoints.save_best(run.step, run.state, dict(extra), {"iou": iou})
  else:
    extra["evals_without_improvement"] += 1
  if extra["evals_without_improvement"] >= patience:
    logging.info(
      "Early stopping at step %d: no better validation IoU in %d evaluations", run.step, patience
    )
    extra["early_stopped"] = True


@dataclasses.dataclass
class Validation:
  """What each evaluation step runs: the validation tiles and, where given, the chip evaluators
  of `config.evals` (`chips(step, predict, stats, root) -> scalars`, built above training by
  `flood_jax.main`) on the chips of the data `root` the tiles were cut from."""

  batches: Any
  chips: Any = None
  stats: dict | None = None
  root: str | None = None


def evaluate_and_checkpoint(
  trainer: Trainer, run: Run, checkpoints, validation: Validation, train_metrics, logs: RunLogs
) -> None:
  """Validation, the metrics row, the best checkpoint and early stopping, the latest checkpoint."""
  config = trainer.config
  valid, samples = validate(trainer, run, validation.batches, jax.process_index() == 0)
  if validation.chips:
    predict = functools.partial(trainer.probability_step, run.state)
    valid.update(validation.chips(run.step, predict, validation.stats, validation.root))
  train_summary = flatten(train_metrics) if train_metrics is not None else {}
  logs.evaluation(run.step, float(trainer.schedule(run.step)), train_summary, valid, samples)
  iou = valid["iou"] if math.isfinite(valid["iou"]) else -1.0
  update_best(run, checkpoints, iou, config.early_stopping_patience)
  checkpoints.save_latest(run.step, run.state, {**run.extra, "iterator": run.iterator.get_state()})


def train_loop(trainer: Trainer, run: Run, checkpoints, validation: Validation, logs) -> None:
  """Steps until the last one or early stopping, without waiting for the device at each step.

  Each step's outputs stay on the device until a log or evaluation step fetches them all. The
  host waits only for the previous step to finish (to show progress) while the device already
  has the next one queued.
  """
  config = trainer.config
  pending, train_metrics, previous = [], None, None
  while run.step < config.num_train_steps and not run.finished:
    batch = parallel.global_batch(next(run.iterator), trainer.mesh)
    run.state, output = trainer.train_step(run.state, batch)
    run.step += 1
    pending.append((run.step, output))
    if previous is not None:
      jax.block_until_ready(previous)
      logs.progress.update(run.step - 1)
    previous = output["loss"]
    log = run.step % config.log_every_steps == 0
    evaluate = run.step % config.eval_every_steps == 0 or run.step == config.num_train_steps
    if log or evaluate:
      train_metrics = fetch_step_metrics(pending, run, config.nonfinite, train_metrics)
      logs.progress.update(run.step)
    if log:
      logs.training(run.step, flatten(train_metrics), float(trainer.schedule(run.step)))
    if evaluate:
      evaluate_and_checkpoint(trainer, run, checkpoints, validation, train_metrics, logs)
      train_metrics = None


def split_batches(store: Path, split: str, config: ml_collections.ConfigDict, stats: dict):
  return pipeline.eval_batches(
    store, split, config, stats, ("hand",), jax.process_index(), jax.process_count()
  )


def train_and_evaluate(
  config: ml_collections.ConfigDict, workdir: str | Path, chip_evaluations=None
) -> dict:
  """Trains, evaluates on validation every N steps, checkpoints, and reports test metrics;
  `chip_evaluations` (`Validation.chips`) run at each evaluation step where given.

  Returns the contents of results.json: {"test": {...}, "bolivia": {...}, "valid": {...}}.
  """
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  config_checks.validate(config)
  store, stats = prepare_data(config, workdir)
  config = resolve_water_weight(config, store)
  if jax.process_index() == 0:
    write_json(workdir / "config.json", config.to_dict())
    save_stats(workdir / "stats.json", stats)
    if (store / CLASS_WEIGHTS_FILE).exists():
      shutil.copy(store / CLASS_WEIGHTS_FILE, workdir / CLASS_WEIGHTS_FILE)
  trainer = Trainer(config)
  checkpoints = checkpoints_lib.Checkpoints(workdir)
  run = start_or_resume(trainer, checkpoints, store, stats, workdir)
  valid_batches = split_batches(store, "valid", config, stats)
  if len(valid_batches) == 0:
    raise DataError(
      f"{store}: no validation tile; early stopping and the best-IoU checkpoint need a valid split"
    )
  logs = RunLogs(workdir, config, run.step, trainer.platform)
  root = json.loads((store / "manifest.json").read_text())["root"]
  validation = Validation(valid_batches, chip_evaluations, stats, root)
  try:
    train_loop(trainer, run, checkpoints, validation, logs)
  finally:
    # Whatever stops the loop (an error, Ctrl-C), a checkpoint being written is completed.
    checkpoints.wait()
    logs.close()
  results = final_evaluation(trainer, checkpoints, run.state, store, stats)
  checkpoints.close()
  if jax.process_index() == 0:
    write_json(workdir / "results.json", results)
    write_json(workdir / THRESHOLD_FILE, results["threshold"])
    history.plot_history(workdir / "metrics.csv", workdir / "plots" / "history.png")
  logging.info(
    "Best step %d (validation IoU %.4f); test IoU %.4f",
    run.extra["best_step"],
    run.extra["best_iou"],
    results.get("test", {}).get("iou", float("nan")),
  )
  return results


def decision_threshold(trainer: Trainer, state, store: Path, stats: dict) -> dict:
  """The threshold of water probability that maximises validation IoU (config.threshold where
  config.calibrate_threshold is False), with the IoU at it and at config.threshold."""
  config = trainer.config
  fixed = {"threshold": config.threshold, "method": "config.threshold"}
  if not config.calibrate_threshold:
    return fixed
  histograms = trainer.probability_histograms(state, split_batches(store, "valid", config, stats))
  threshold, iou = calibrate_threshold(histograms)
  logging.info("Decision threshold %.3f: validation IoU %.4f", threshold, iou)
  return {
    "threshold": threshold,
    "method": "maximum validation IoU",
    "valid_iou": iou,
    "default_threshold": config.threshold,
  }


def final_evaluation(trainer: Trainer, checkpoints, state, store: Path, stats: dict) -> dict:
  """The best checkpoint's decision threshold, and its metrics at that threshold on every
  held-out split that has tiles."""
  best_state, best_extra = checkpoints.restore(checkpoints.best, checkpoints_lib.abstract(state))
  best_state = trainer.replicate(best_state)
  threshold = decision_threshold(trainer, best_state, store, stats)
  results = {"best_step": int(best_extra.get("best_step", 0)), "threshold": threshold}
  for split in ("valid", "test", "bolivia"):
    batches = split_batches(store, split, trainer.config, stats)
    if len(batches):
      metrics = trainer.evaluate(best_state, batches, threshold=threshold["threshold"])
      results[split] = flatten(metrics)
  return results
