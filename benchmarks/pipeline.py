"""Input pipeline throughput: augmented, batched training images per second from preprocessed tiles.

    python -m benchmarks.pipeline --store=runs/demo/tiles [--config=configs/demo.py] [--batches=50]

Prints images/s with 1 reading thread and with config.data.num_threads, so the figure per worker
is visible. No model runs: this is the ceiling the pipeline puts on training speed.
"""

from __future__ import annotations

import json
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from absl import app, flags
from ml_collections import config_flags

from flood_jax.dataset.stats import load_stats
from flood_jax.training import pipeline

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", "configs/demo.py", "Config (data, augment, batch_size).")
flags.DEFINE_string("store", None, "Tile store written by flood_jax.preprocess.", required=True)
flags.DEFINE_integer("batches", 50, "Batches to time after one warm-up batch.")


def main(argv) -> None:
  del argv
  config = FLAGS.config
  stats = load_stats(Path(FLAGS.store) / "stats.json")
  print(f"grain {version('grain')}, numpy {np.__version__} (no jax or XLA in this pipeline)")
  results = {}
  for threads in sorted({1, config.data.num_threads}):
    config.data.num_threads = threads
    iterator = pipeline.to_iterator(pipeline.train_dataset(FLAGS.store, config, stats), config)
    next(iterator)
    start = time.perf_counter()
    for _ in range(FLAGS.batches):
      batch = next(iterator)
    seconds = time.perf_counter() - start
    images = FLAGS.batches * config.batch_size / seconds
    tile = batch["image"].shape[1]
    results[threads] = images
    print(
      f"pipeline, {threads} thread(s): {images:.1f} images/s of {tile}x{tile} ({images / threads:.1f} per thread)"
    )
  print(
    json.dumps(
      {f"images_per_s_{threads}_threads": round(value, 2) for threads, value in results.items()}
    )
  )


if __name__ == "__main__":
  app.run(main)
