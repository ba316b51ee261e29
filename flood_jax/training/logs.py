"""Run logs in the workdir: metrics.csv, TensorBoard events and a progress line.

TensorBoard event files are written with tensorboardX, which needs only protobuf: clu's
metric_writers would import TensorFlow (about 1.4 GB installed and 5 s at every start-up) for the
same files. Only process 0 writes.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np
from absl import logging

from flood_jax.core.files import atomic_path


class MetricsCSV:
  """One row per evaluation. On resume, rows after the restored step are dropped."""

  def __init__(self, path: str | Path, resume_step: int):
    self.path = Path(path)
    self.rows: list[dict] = []
    if self.path.exists() and resume_step > 0:
      with self.path.open() as file:
        self.rows = [row for row in csv.DictReader(file) if int(row["step"]) <= resume_step]
    self._rewrite()

  def _rewrite(self) -> None:
    if jax.process_index() != 0:
      return
    fields = list(self.rows[0]) if self.rows else ["step"]
    with atomic_path(self.path) as partial, partial.open("w", newline="") as file:
      writer = csv.DictWriter(file, fieldnames=fields)
      writer.writeheader()
      writer.writerows(self.rows)

  def append(self, row: dict) -> None:
    self.rows.append(
      {key: (f"{value:.6g}" if isinstance(value, float) else value) for key, value in row.items()}
    )
    self._rewrite()


class TensorBoard:
  def __init__(self, logdir: str | Path):
    self._writer = None
    if jax.process_index() == 0:
      from tensorboardX import SummaryWriter

      self._writer = SummaryWriter(str(logdir), flush_secs=30)

  def scalars(self, step: int, values: dict[str, float], prefix: str = "") -> None:
    if self._writer is None:
      return
    for name, value in values.items():
      if value is not None and math.isfinite(float(value)):
        self._writer.add_scalar(f"{prefix}{name}", float(value), step)

  def images(self, step: int, name: str, images: np.ndarray) -> None:
    """images: float [N, H, W, 3] in [0, 1]."""
    if self._writer is not None:
      self._writer.add_images(name, np.clip(images, 0, 1), step, dataformats="NHWC")

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


class Progress:
  """A live step counter with rate and ETA, from the first step.

  On a terminal it is a tqdm bar on stderr; otherwise (a log file, a batch job) a log line at
  the first completed step and then every `interval_seconds`. Where the projected run on a CPU
  passes an hour, it says so once and names the demo config.
  """

  def __init__(
    self,
    total_steps: int,
    first_step: int,
    batch_size: int,
    platform: str,
    interval_seconds: float = 30.0,
  ):
    self.total_steps, self.batch_size, self.platform = total_steps, batch_size, platform
    self.interval_seconds = interval_seconds
    self.first_step = self.step = first_step
    self.started = self.last_line = time.perf_counter()
    self.first_completed = None  # (step, time) of the first completed step, which compiles
    self.warned = False
    self.bar = None
    if jax.process_index() == 0 and sys.stderr.isatty():
      from tqdm import tqdm

      self.bar = tqdm(
        total=total_steps,
        initial=first_step,
        desc="train",
        unit="step",
        file=sys.stderr,
        dynamic_ncols=True,
      )

  def _seconds_per_step(self) -> float:
    """Measured after the first step (which includes compilation) once there is a later one."""
    now = time.perf_counter()
    if self.first_completed and self.step > self.first_completed[0]:
      return (now - self.first_completed[1]) / (self.step - self.first_completed[0])
    return (now - self.started) / max(self.step - self.first_step, 1)

  def update(self, step: int) -> None:
    """Step `step` has completed on the device."""
    if step <= self.step:
      return
    advanced, self.step = step - self.step, step
    if self.first_completed is None:
      self.first_completed = (step, time.perf_counter())
    if self.bar is not None:
      self.bar.update(advanced)
    now = time.perf_counter()
    if self.bar is None and (
      step == self.first_step + 1 or now - self.last_line >= self.interval_seconds
    ):
      self.last_line = now
      logging.info("%s", self.describe())
    self._warn_if_long()

  def describe(self) -> str:
    seconds = self._seconds_per_step()
    remaining = (self.total_steps - self.step) * seconds
    return (
      f"step {self.step}/{self.total_steps}  {1 / seconds:.2f} steps/s  "
      f"{self.batch_size / seconds:.1f} images/s  ETA {_duration(remaining)}"
    )

  def _warn_if_long(self) -> None:
    if self.warned or self.platform != "cpu" or self.step - self.first_completed[0] < 2:
      return
    self.warned = True
    remaining = (self.total_steps - self.step) * self._seconds_per_step()
    if remaining > 3600:
      logging.warning(
        "This run is projected to take %s on this CPU (%d steps at %.1f s). Early stopping may "
        "end it sooner; configs/demo.py trains a small model here in about 10 minutes.",
        _duration(remaining),
        self.total_steps,
        self._seconds_per_step(),
      )

  def line(self, step: int, loss: float, learning_rate: float) -> str:
    """The periodic training line: step, rate, ETA, loss and learning rate."""
    message = f"{self.describe()}  loss {loss:.4f}  lr {learning_rate:.2e}"
    if self.bar is not None:
      self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{learning_rate:.1e}")
    logging.info(message)
    return message

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()


def _duration(seconds: float) -> str:
  hours, rest = divmod(int(seconds), 3600)
  return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class RunLogs:
  """Everything a training run reports: metrics.csv, TensorBoard and the progress display."""

  def __init__(self, workdir: Path, config, start_step: int, platform: str):
    self.metrics = MetricsCSV(workdir / "metrics.csv", start_step)
    self.tensorboard = TensorBoard(workdir / "tensorboard")
    self.progress = Progress(config.num_train_steps, start_step, config.batch_size, platform)

  def training(self, step: int, summary: dict, learning_rate: float) -> None:
    self.progress.line(step, summary["loss"], learning_rate)
    self.tensorboard.scalars(step, {**summary, "learning_rate": learning_rate}, "train/")

  def evaluation(
    self, step: int, learning_rate: float, train: dict, valid: dict, samples: dict
  ) -> None:
    """One metrics.csv row, validation scalars and sample images."""
    self.metrics.append(
      {
        "step": step,
        "learning_rate": learning_rate,
        "train_loss": train.get("loss", float("nan")),
        "train_iou": train.get("iou", float("nan")),
        **{f"valid_{name}": value for name, value in valid.items()},
      }
    )
    self.tensorboard.scalars(step, valid, "valid/")
    if samples:
      self.tensorboard.images(step, "valid/samples_vv_truth_prediction", samples["image"])
    logging.info(
      "step %d validation: IoU %.4f  mean IoU %.4f  loss %.4f",
      step,
      valid["iou"],
      valid["mean_iou"],
      valid["loss"],
    )

  def close(self) -> None:
    self.progress.close()
    self.tensorboard.close()
