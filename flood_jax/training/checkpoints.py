"""Orbax checkpoints: the latest step for resuming, and the best step by validation IoU.

Two managers under `workdir/checkpoints/`: `latest/` keeps the most recent step (with the data
iterator's position and the early-stopping bookkeeping, so a restarted run continues exactly),
`best/` keeps only the step with the highest validation IoU (`best_fn`). Orbax writes each step
to a temporary folder and renames it when complete, so a crash while saving leaves the previous
checkpoint loadable.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from flood_jax.errors import UsageError


def _best_iou(metrics: dict) -> float:
  iou = metrics.get("iou", float("nan"))
  return iou if math.isfinite(iou) else -1.0


def _barriers(name: str):
  """Both managers save the same step; on many hosts their barriers need distinct names."""
  return ocp.options.MultiprocessingOptions(barrier_sync_key_prefix=name)


class Checkpoints:
  def __init__(self, workdir: str | Path):
    root = Path(workdir).absolute() / "checkpoints"
    self.latest = ocp.CheckpointManager(
      root / "latest",
      options=ocp.CheckpointManagerOptions(
        max_to_keep=1, create=True, multiprocessing_options=_barriers("latest")
      ),
      item_names=("state", "extra"),
    )
    self.best = ocp.CheckpointManager(
      root / "best",
      options=ocp.CheckpointManagerOptions(
        max_to_keep=1,
        best_fn=_best_iou,
        best_mode="max",
        create=True,
        multiprocessing_options=_barriers("best"),
      ),
      item_names=("state", "extra"),
    )

  @staticmethod
  def _args(state, extra: dict):
    return ocp.args.Composite(state=ocp.args.StandardSave(state), extra=ocp.args.JsonSave(extra))

  def save_latest(self, step: int, state, extra: dict) -> None:
    self.latest.save(step, args=self._args(state, extra), force=True)

  def save_best(self, step: int, state, extra: dict, metrics: dict) -> None:
    self.best.save(step, args=self._args(state, extra), metrics=metrics, force=True)

  def latest_step(self) -> int | None:
    return self.latest.latest_step()

  def restore(
    self, manager: ocp.CheckpointManager, abstract_state, step: int | None = None
  ) -> tuple[Any, dict]:
    step = manager.latest_step() if step is None else step
    restored = manager.restore(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state), extra=ocp.args.JsonRestore()
      ),
    )
    return restored.state, restored.extra

  def wait(self) -> None:
    self.latest.wait_until_finished()
    self.best.wait_until_finished()

  def close(self) -> None:
    self.latest.close()
    self.best.close()


def restore_best(workdir: str | Path, abstract_state) -> tuple[Any, dict]:
  """The best state of a finished or running workdir (for evaluation and prediction)."""
  root = Path(workdir).absolute() / "checkpoints" / "best"
  if not root.is_dir():
    raise UsageError(
      f"{Path(workdir)}: no checkpoint (no checkpoints/best); train a model there first"
    )
  manager = ocp.CheckpointManager(root, item_names=("state", "extra"))
  step = manager.best_step() if manager.best_step() is not None else manager.latest_step()
  if step is None:
    raise UsageError(f"{root}: holds no complete checkpoint; train a model there first")
  restored = manager.restore(
    step,
    args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract_state), extra=ocp.args.JsonRestore()
    ),
  )
  manager.close()
  return restored.state, restored.extra


def abstract(tree):
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
