"""Entry point: `python -m flood_jax.main --config=configs/best.py --workdir=DIR`.

Parses flags, sets up logging and (for multi-host runs) jax.distributed, then calls
`train.train_and_evaluate(config, workdir)`. Any config field can be overridden from the
command line, e.g. `--config.optimizer.learning_rate=3e-4`; variants are arguments of the
config file, e.g. `--config=configs/best.py:model=resunet_se,loss=dice`.
"""

from __future__ import annotations

import os
import sys

from absl import flags, logging
from ml_collections import config_flags

from flood_jax import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
  config_flags.DEFINE_config_file(
    "config",
    None,
    "Config file, e.g. configs/best.py or configs/best.py:model=unet.",
    lock_config=True,
  )
  flags.DEFINE_string(
    "workdir", None, "Folder for checkpoints, logs and results (resumes if it has them)."
  )
  flags.DEFINE_string("coordinator_address", None, "host:port of process 0, for multi-host runs.")
  flags.DEFINE_integer("num_processes", None, "Number of processes in a multi-host run.")
  flags.DEFINE_integer("process_id", None, "This process's index in a multi-host run.")


def chip_evaluations(config):
  """The config.evals run at training's evaluation steps (`evaluation.during_training`), None
  where none asks to be (evaluation's world is then never imported)."""
  if not any(dict(entry).get("during_training") for entry in dict(config.evals).values()):
    return None
  from flood_jax.evaluation.during_training import ChipEvaluations

  return ChipEvaluations(config)


def main() -> None:
  cli.require("config", "workdir")
  import jax

  if FLAGS.coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS"):
    jax.distributed.initialize(
      coordinator_address=FLAGS.coordinator_address,
      num_processes=FLAGS.num_processes,
      process_id=FLAGS.process_id,
    )
  logging.info(
    "JAX process %d of %d, devices: %s", jax.process_index(), jax.process_count(), jax.devices()
  )
  from flood_jax.training import train

  results = train.train_and_evaluate(FLAGS.config, FLAGS.workdir, chip_evaluations(FLAGS.config))
  if jax.process_index() == 0:
    for split in ("test", "bolivia"):
      if split in results:
        print(f"{split} IoU (water, summed confusion matrix): {results[split]['iou']:.4f}")
    sys.stdout.flush()


if __name__ == "__main__":
  cli.run(define_flags, main)
