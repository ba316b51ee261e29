"""Training end to end on the tiny config: logs, checkpoints, determinism, resume, schedule."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from configs import test as test_config
from flood_jax.errors import ConfigError
from flood_jax.training import config_checks, train
from tests.helpers import latest_checkpoint

PROJECT = Path(__file__).resolve().parents[1]


def tiny_config(tile_store, **overrides):
  config = test_config.get_config()
  config.data.preprocessed = str(tile_store)
  for key, value in overrides.items():
    target = config
    *parents, leaf = key.split(".")
    for parent in parents:
      target = target[parent]
    target[leaf] = value
  return config


def final_params(workdir, config):
  return latest_checkpoint(workdir, config)[1].params


@pytest.fixture(scope="module")
def finished_run(tile_store, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("run")
  results = train.train_and_evaluate(tiny_config(tile_store), workdir)
  return workdir, results


def test_run_writes_every_log_and_result(finished_run):
  workdir, results = finished_run
  for name in ("config.json", "stats.json", "metrics.csv", "results.json", "plots/history.png"):
    assert (workdir / name).exists(), name
  assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
  rows = list(csv.DictReader((workdir / "metrics.csv").open()))
  assert [int(row["step"]) for row in rows] == [3, 6]
  saved = json.loads((workdir / "results.json").read_text())
  assert 0.0 <= saved["test"]["iou"] <= 1.0 and "bolivia" in saved
  assert saved["test"]["iou"] == pytest.approx(results["test"]["iou"])
  assert (workdir / "checkpoints" / "best").is_dir() and (
    workdir / "checkpoints" / "latest"
  ).is_dir()


def test_same_seed_same_metrics_csv(finished_run, tile_store, tmp_path):
  workdir, _ = finished_run
  train.train_and_evaluate(tiny_config(tile_store), tmp_path)
  assert (tmp_path / "metrics.csv").read_text() == (workdir / "metrics.csv").read_text()
  config = tiny_config(tile_store)
  first, second = final_params(workdir, config), final_params(tmp_path, config)
  assert jax.tree.all(jax.tree.map(np.array_equal, first, second))


def test_restarting_a_finished_run_changes_nothing(finished_run, tile_store):
  workdir, results = finished_run
  before = (workdir / "metrics.csv").read_text()
  again = train.train_and_evaluate(tiny_config(tile_store), workdir)
  assert (workdir / "metrics.csv").read_text() == before
  assert again["test"]["iou"] == pytest.approx(results["test"]["iou"])


def test_killed_run_resumes_to_the_same_end(tile_store, tmp_path):
  """SIGKILL a real training process mid-run; the restarted run ends as an uninterrupted one."""
  overrides = [
    f"--config.data.preprocessed={tile_store}",
    "--config.num_train_steps=24",
    "--config.eval_every_steps=4",
    "--config.early_stopping_patience=100",
  ]
  command = [sys.executable, "-m", "flood_jax.main", "--config=configs/test.py", *overrides]
  environment = dict(os.environ, JAX_PLATFORMS="cpu")
  reference = tmp_path / "reference"
  subprocess.run(
    [*command, f"--workdir={reference}"],
    cwd=PROJECT,
    env=environment,
    check=True,
    capture_output=True,
  )

  killed = tmp_path / "killed"
  process = subprocess.Popen([*command, f"--workdir={killed}"], cwd=PROJECT, env=environment,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
  deadline = time.time() + 300
  while time.time() < deadline and process.poll() is None:
    steps = list((killed / "checkpoints" / "latest").glob("[0-9]*"))
    if any(step.name.isdigit() and int(step.name) >= 8 for step in steps):
      break
    time.sleep(0.02)
  process.send_signal(signal.SIGKILL)
  assert process.wait() == -signal.SIGKILL, "the run finished before it could be killed"
  subprocess.run(
    [*command, f"--workdir={killed}"], cwd=PROJECT, env=environment, check=True, capture_output=True
  )

  assert (killed / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
  config = tiny_config(tile_store, num_train_steps=24)
  first, second = final_params(reference, config), final_params(killed, config)
  assert jax.tree.all(jax.tree.map(np.array_equal, first, second))


def test_sgdr_schedule_restarts_with_growing_periods():
  config = test_config.get_config().optimizer
  config.learning_rate, config.min_learning_rate = 1e-2, 1e-5
  config.warmup_steps, config.first_period, config.period_multiplier = 2, 10, 2
  schedule = train.learning_rate_schedule(config, 70)
  assert float(schedule(2)) == pytest.approx(1e-2)  # peak after warm-up
  assert float(schedule(10)) == pytest.approx(1e-5, rel=1e-3)  # end of the first cycle
  assert float(schedule(12)) == pytest.approx(1e-2)  # restarted
  assert float(schedule(30)) == pytest.approx(1e-5, rel=1e-3)  # second cycle lasts 20 steps
  assert float(schedule(11)) < float(schedule(12))


@pytest.mark.parametrize(
  "field, value, message",
  [
    ("optimizer.learning_rate", -1e-3, "learning_rate"),
    ("data.tile_size", 99, "tile_size"),
    ("loss.terms", {"lovasz": 1.0}, "unknown losses"),
    ("nonfinite", "ignore", "nonfinite"),
  ],
)
def test_bad_config_fields_are_refused_by_name(tile_store, field, value, message):
  with pytest.raises(ConfigError, match=message):
    config_checks.validate(tiny_config(tile_store, **{field: value}))


def test_step_outputs_are_fetched_only_when_logged_or_evaluated(tile_store, tmp_path, monkeypatch):
  """The loop does not wait for each step's metrics: they are fetched in one transfer at log and
  evaluation steps only (log every 2, evaluate every 3, 6 steps: fetches at 2, 3, 4, 6)."""
  fetched = []
  original = train.fetch_step_metrics

  def counting(pending, *args, **kwargs):
    fetched.append([step for step, _ in pending])
    return original(pending, *args, **kwargs)

  monkeypatch.setattr(train, "fetch_step_metrics", counting)
  train.train_and_evaluate(tiny_config(tile_store), tmp_path)
  assert fetched == [[1, 2], [3], [4], [5, 6]]


def test_progress_shows_from_the_first_step_and_warns_of_long_cpu_runs(monkeypatch, caplog):
  """A log line at the first completed step; a projected run over an hour on a CPU is said
  once, naming configs/demo.py; not on a GPU."""
  import logging

  from flood_jax.training import logs

  clock = iter(range(0, 10_000, 30))  # every call 30 s later: 30 s a step
  monkeypatch.setattr(logs.time, "perf_counter", lambda: float(next(clock)))
  caplog.set_level(logging.INFO)
  for platform in ("gpu", "cpu"):
    caplog.clear()
    progress = logs.Progress(1000, 0, 16, platform, interval_seconds=1e9)
    for step in range(1, 6):
      progress.update(step)
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("step 1/1000")
    warnings = [message for message in messages if "configs/demo.py" in message]
    assert len(warnings) == (platform == "cpu")
