"""Run logs in the workdir: metrics.csv, TensorBoard events, JSON files, a progress line.

TensorBoard event files are written with tensorboardX, which needs only protobuf: clu's
metric_writers would import TensorFlow (about 1.4 GB installed and 5 s at every start-up) for the
same files. Only process 0 writes.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import jax
import numpy as np
from absl import logging


def write_json(path: str | Path, payload) -> None:
  """Writes JSON atomically; NaN and infinity become null (they are not JSON)."""

  def clean(value):
    if isinstance(value, dict):
      return {key: clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
      return [clean(item) for item in value]
    if isinstance(value, (float, np.floating)):
      return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
      return int(value)
    return value

  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  partial = path.with_name(path.name + ".partial")
  partial.write_text(json.dumps(clean(payload), indent=2))
  partial.replace(path)


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
    partial = self.path.with_name(self.path.name + ".partial")
    with partial.open("w", newline="") as file:
      writer = csv.DictWriter(file, fieldnames=fields)
      writer.writeheader()
      writer.writerows(self.rows)
    partial.replace(self.path)

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
  """A progress line every few steps: step, steps/s, images/s, ETA, loss."""

  def __init__(self, total_steps: int, batch_size: int, first_step: int):
    self.total_steps = total_steps
    self.batch_size = batch_size
    self.last_step = first_step
    self.last_time = time.perf_counter()

  def line(self, step: int, loss: float, learning_rate: float) -> str:
    now = time.perf_counter()
    steps_per_second = (step - self.last_step) / max(now - self.last_time, 1e-9)
    self.last_step, self.last_time = step, now
    remaining = (self.total_steps - step) / max(steps_per_second, 1e-9)
    eta = time.strftime("%H:%M:%S", time.gmtime(remaining))
    message = (
      f"step {step}/{self.total_steps}  {steps_per_second:.2f} steps/s  "
      f"{steps_per_second * self.batch_size:.1f} images/s  ETA {eta}  "
      f"loss {loss:.4f}  lr {learning_rate:.2e}"
    )
    logging.info(message)
    return message


class _LibraryInfoFilter:
  """Drops INFO lines from libraries (Orbax prints a dozen per checkpoint); keeps warnings."""

  NOISY = ("/orbax/", "/jax/", "/jaxlib/", "/tensorstore/", "/grain/", "/tensorboardX/")

  def filter(self, record) -> bool:
    return record.levelno >= 30 or not any(part in record.pathname for part in self.NOISY)


def quiet_library_logs() -> None:
  import logging as python_logging

  from absl import logging as absl_logging

  handler = absl_logging.get_absl_handler()
  for target in (handler, python_logging.getLogger()):
    if not any(isinstance(existing, _LibraryInfoFilter) for existing in target.filters):
      target.addFilter(_LibraryInfoFilter())
