"""Input pipeline throughput: augmented, batched training images per second from preprocessed tiles.

    python -m benchmarks.pipeline --store=TILES_256 --config=configs/best.py \
        --config.batch_size=24 [--threads=1,2] [--processes=1,2] [--batches=50]

Prints images/s with each number of grain reading threads (in this process) and, through grain's
`mp_prefetch`, of worker processes (each with one thread), and the figure per thread or process,
then the arithmetic of how many cores a GPU of a given training speed would need. No model runs:
this is the ceiling the pipeline puts on training speed. The store's tile size is the images'.
"""

from __future__ import annotations

import json
import os
import time
from importlib.metadata import version
from pathlib import Path

import grain
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from flood_jax.dataset.stats import load_stats
from flood_jax.training import pipeline

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", "configs/demo.py", "Config (data, augment, batch_size).")
flags.DEFINE_string("store", None, "Tile store written by flood_jax.preprocess.", required=True)
flags.DEFINE_integer("batches", 50, "Batches to time after the warm-up batches.")
flags.DEFINE_list("threads", ["1", "2"], "Reading threads to time, in this process.")
flags.DEFINE_list("processes", ["1", "2"], "grain worker processes to time (empty: none).")
flags.DEFINE_float(
  "gpu_images_per_s", 1200.0, "Training images/s of the GPU the arithmetic is for."
)


def timed(iterator, batches: int, warmup: int = 2) -> tuple[float, int]:
  """(images/s over `batches` batches after `warmup` ones, the images' side)."""
  for _ in range(warmup):
    next(iterator)
  start = time.perf_counter()
  for _ in range(batches):
    batch = next(iterator)
  return batches * batch["image"].shape[0] / (time.perf_counter() - start), batch["image"].shape[1]


def thread_iterator(config, stats, threads: int):
  config.data.num_threads = threads
  return pipeline.to_iterator(pipeline.train_dataset(FLAGS.store, config, stats), config)


def process_iterator(config, stats, processes: int):
  """grain's worker processes, one reading thread each, batches handed over in shared memory."""
  config.data.num_threads = 1
  dataset = pipeline.train_dataset(FLAGS.store, config, stats).to_iter_dataset(
    grain.ReadOptions(num_threads=1, prefetch_buffer_size=config.data.prefetch)
  )
  return iter(dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=processes)))


def main(argv) -> None:
  del argv
  config = FLAGS.config
  stats = load_stats(Path(FLAGS.store) / "stats.json")
  print(f"grain {version('grain')}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
        f"batch {config.batch_size} (no jax or XLA in this pipeline)")  # fmt: skip
  results = {}
  runs = [("threads", int(count), thread_iterator) for count in FLAGS.threads if count]
  runs += [("processes", int(count), process_iterator) for count in FLAGS.processes if count]
  # Every run reads the same batches (the same seed): one pass first puts their tiles in the
  # page cache, so that no run is timed reading the disk and the others the cache.
  timed(thread_iterator(config, stats, 2), FLAGS.batches)
  singular = {"threads": "thread", "processes": "process"}
  for kind, count, make in runs:
    images, tile = timed(make(config, stats, count), FLAGS.batches)
    results[f"{kind}_{count}"] = round(images, 2)
    print(f"pipeline, {count} {singular[kind] if count == 1 else kind}: {images:.1f} images/s "
          f"of {tile}x{tile} ({images / count:.1f} per {singular[kind]})", flush=True)  # fmt: skip
  largest = max(count for _, count, _ in runs)  # the arithmetic takes the widest run's rate
  per_core = (
    max(results[f"{kind}_{count}"] for kind, count, _ in runs if count == largest) / largest
  )
  print(f"a GPU training {FLAGS.gpu_images_per_s:.0f} images/s needs about "
        f"{FLAGS.gpu_images_per_s / per_core:.0f} such cores at {per_core:.1f} images/s per core")  # fmt: skip
  print(json.dumps({"images_per_s": results, "per_core": round(per_core, 2)}))


if __name__ == "__main__":
  app.run(main)
