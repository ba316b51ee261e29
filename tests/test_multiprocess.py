"""Two processes joined by jax.distributed on loopback train like one process (same global batch)."""

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

from configs import test as test_config
from tests.helpers import latest_checkpoint

PROJECT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    return probe.getsockname()[1]


def _params(workdir, config):
  return [
    np.asarray(leaf) for leaf in jax.tree.leaves(latest_checkpoint(workdir, config)[1].params)
  ]


def test_two_processes_match_one(tile_store, tmp_path):
  # SGD: see test_parallel.py for why parameters are compared without Adam's normalisation.
  overrides = [
    f"--config.data.preprocessed={tile_store}",
    "--config.num_train_steps=6",
    "--config.eval_every_steps=3",
    "--config.optimizer.name=sgd",
  ]
  command = [sys.executable, "-m", "flood_jax.main", "--config=configs/test.py", *overrides]
  environment = dict(os.environ, JAX_PLATFORMS="cpu")
  environment.pop("XLA_FLAGS", None)
  single = tmp_path / "single"
  subprocess.run(
    [*command, f"--workdir={single}"], cwd=PROJECT, env=environment, check=True, capture_output=True
  )

  double = tmp_path / "double"
  address = f"127.0.0.1:{_free_port()}"
  processes = [
    subprocess.Popen(
      [
        *command,
        f"--workdir={double}",
        f"--coordinator_address={address}",
        "--num_processes=2",
        f"--process_id={index}",
      ],
      cwd=PROJECT,
      env=environment,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
    )  # fmt: skip
    for index in range(2)
  ]
  outputs = [process.communicate(timeout=600)[0] for process in processes]
  for process, output in zip(processes, outputs, strict=True):
    assert process.returncode == 0, output[-3000:]
  assert "process 0 of 2" in outputs[0] and "process 1 of 2" in outputs[1]

  config = test_config.get_config()
  config.data.preprocessed = str(tile_store)
  config.optimizer.name = "sgd"
  for one, two in zip(_params(single, config), _params(double, config), strict=True):
    np.testing.assert_allclose(one, two, rtol=1e-4, atol=1e-5)
  # Every row and column of metrics.csv: the same steps, and the same values up to the rounding
  # of sums taken in another order over two processes.
  one, two = (list(csv.DictReader((run / "metrics.csv").open())) for run in (single, double))
  assert [row["step"] for row in one] == [row["step"] for row in two] == ["3", "6"]
  for row_one, row_two in zip(one, two, strict=True):
    assert list(row_one) == list(row_two)
    for column, value in row_one.items():
      np.testing.assert_allclose(
        float(row_two[column]), float(value), rtol=1e-3, atol=1e-5, err_msg=column
      )
