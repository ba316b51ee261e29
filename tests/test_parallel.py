"""Data parallelism: 8 forced CPU devices give the same training as 1 device."""

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
import jax, numpy as np
from configs import test as test_config
from flood_jax.training import parallel
from flood_jax.training import pipeline
from flood_jax.training.train import Trainer

config = test_config.get_config()
config.data.preprocessed = sys.argv[1]
config.batch_size = 8
config.eval_batch_size = 8
config.optimizer.name = sys.argv[2]
stats = json.load(open(sys.argv[1] + "/stats.json"))
batches = [pipeline.train_dataset(sys.argv[1], config, stats)[step] for step in range(3)]
results = {}
for name, devices in (("one", jax.devices()[:1]), ("eight", jax.devices())):
  trainer = Trainer(config, devices=devices)
  state = trainer.replicate(trainer.initial_state())
  losses = []
  for batch in batches:
    device_batch = parallel.global_batch(batch, trainer.mesh)
    assert len(device_batch["image"].sharding.device_set) == len(devices)
    state, output = trainer.train_step(state, device_batch)
    losses.append(float(output["loss"]))
  leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(jax.device_get(state.params))]
  results[name] = (losses, leaves)
difference = max(float(np.max(np.abs(a - b))) for a, b in zip(results["one"][1], results["eight"][1]))
scale = max(float(np.max(np.abs(a))) for a in results["one"][1])
print(json.dumps({"devices": jax.device_count(), "losses_one": results["one"][0],
                  "losses_eight": results["eight"][0], "max_param_difference": difference, "scale": scale}))
"""


def _run(tile_store, optimizer):
  environment = dict(
    os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu"
  )
  result = subprocess.run([sys.executable, "-c", SCRIPT, str(tile_store), optimizer], cwd=PROJECT, env=environment,
                          capture_output=True, text=True, check=True)  # fmt: skip
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report["devices"] == 8
  for one, eight in zip(report["losses_one"], report["losses_eight"], strict=True):
    assert abs(one - eight) <= 1e-5 * max(1.0, abs(one))
  return report


def test_eight_devices_match_one(tile_store):
  """Same losses and parameters after 3 steps. Parameters are compared under SGD: Adam divides by
  sqrt(v), which turns float rounding in near-zero gradients (sums in another order over 8
  devices) into differences of up to the learning rate, whatever the parallelism is."""
  report = _run(tile_store, "sgd")
  assert report["max_param_difference"] <= 1e-5 * max(1.0, report["scale"])


def test_eight_devices_match_one_with_adamw(tile_store):
  """With the default optimizer the losses agree and parameters differ by less than lr per step."""
  report = _run(tile_store, "adamw")
  assert report["max_param_difference"] <= 3 * 1e-3
