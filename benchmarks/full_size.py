"""The researcher's road at the real dataset's size, on synthetic chips: preprocessing and a
bounded training run with configs/best.py.

    python -m flood_jax.synthesize --output=/data/full/v1.1 --official_sizes     # 4,831 chips
    python -m benchmarks.full_size --root=/data/full/v1.1 --work=/data/full_work [--steps=5]

A tenth-size root (25/9/9/2 hand chips and 439 weak ones, the same generator) is written into
WORK unless --tenth_root names one. Each root is preprocessed in a child process with
configs/best.py's tiles (256², stride 256): seconds, the child's own peak memory and the tile
store's bytes on disk. Then `--steps` training steps of configs/best.py (batch 16) run over the
full store in a child: the host's time waiting for each batch, the step's time (dispatch to
result), and the time and size of one checkpoint. Prints one line per figure and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.memory import own_peak_mib, run_child

TENTH_SIZES = {"train": 25, "valid": 9, "test": 9, "bolivia": 2}
TENTH_WEAK = 439


def folder_bytes(folder: Path) -> int:
  return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def best_config(root: str, store: str | None = None):
  from configs import best

  config = best.get_config()
  config.data.root = root
  if store:
    config.data.preprocessed = store
  return config


def child_preprocess(root: str, store: str) -> dict:
  from flood_jax.training.tile_store import preprocess

  start = time.perf_counter()
  manifest = preprocess(best_config(root), store)
  return {
    "seconds": round(time.perf_counter() - start, 1),
    "peak_rss_mib": round(own_peak_mib(), 1),
    "store_bytes": folder_bytes(Path(store)),
    "tiles": sum(sum(sources.values()) for sources in manifest["tiles"].values()),
  }


def child_train(root: str, store: str, workdir: str, steps: int) -> dict:
  import jax

  from flood_jax.dataset.stats import load_stats
  from flood_jax.training import checkpoints as checkpoints_lib
  from flood_jax.training import parallel, train

  config = best_config(root, store)
  config = train.resolve_water_weight(config, Path(store))
  trainer = train.Trainer(config)
  checkpoints = checkpoints_lib.Checkpoints(workdir)
  stats = load_stats(Path(store) / "stats.json")
  run = train.start_or_resume(trainer, checkpoints, Path(store), stats, Path(workdir))
  waits, step_times = [], []
  for _ in range(steps + 1):  # the first step compiles: not counted
    start = time.perf_counter()
    batch = parallel.global_batch(next(run.iterator), trainer.mesh)
    ready = time.perf_counter()
    run.state, output = trainer.train_step(run.state, batch)
    jax.block_until_ready(output["loss"])
    waits.append(ready - start)
    step_times.append(time.perf_counter() - ready)
  start = time.perf_counter()
  checkpoints.save_latest(steps + 1, run.state, {"iterator": run.iterator.get_state()})
  checkpoints.wait()
  saved = time.perf_counter() - start
  checkpoints.close()
  waits, step_times = waits[1:], step_times[1:]
  mean = lambda values: sum(values) / len(values)  # noqa: E731
  return {
    "steps": steps, "batch_size": config.batch_size, "platform": trainer.platform,
    "step_s": round(mean(step_times), 3), "data_wait_s": round(mean(waits), 4),
    "data_wait_share": round(sum(waits) / (sum(waits) + sum(step_times)), 4),
    "images_per_s": round(config.batch_size / (mean(step_times) + mean(waits)), 2),
    "checkpoint_s": round(saved, 2),
    "checkpoint_bytes": folder_bytes(Path(workdir) / "checkpoints"),
    "peak_rss_mib": round(own_peak_mib(), 1),
  }  # fmt: skip


def in_child(*arguments: str) -> dict:
  return run_child("benchmarks.full_size", *arguments)


def main() -> None:
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--root", required=True, help="The full-size root (--official_sizes).")
  parser.add_argument("--work", required=True, help="Folder for stores and the training run.")
  parser.add_argument("--tenth_root", default=None)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--child", choices=["preprocess", "train"], default=None)
  parser.add_argument("--store", default=None)
  args = parser.parse_args()
  work = Path(args.work)
  if args.child == "preprocess":
    print(json.dumps(child_preprocess(args.root, args.store)))
    return
  if args.child == "train":
    print(json.dumps(child_train(args.root, args.store, str(work / "run"), args.steps)))
    return
  tenth = Path(args.tenth_root or work / "tenth" / "v1.1")
  if not (tenth / "splits").exists():
    from flood_jax.dataset.synthetic import generate_dataset

    generate_dataset(tenth, 0, TENTH_WEAK, seed=0, split_sizes=TENTH_SIZES)
  results = {}
  for name, root in (("tenth", tenth), ("full", Path(args.root))):
    store = work / f"tiles_{name}"
    results[name] = in_child("--child=preprocess", f"--root={root}", f"--work={work}",
                             f"--store={store}")  # fmt: skip
    figures = results[name]
    print(f"preprocess {name} ({root}): {figures['seconds']:.0f} s, peak RSS "
          f"{figures['peak_rss_mib']:.0f} MiB, tiles {figures['store_bytes'] / 2**30:.2f} GiB",
          flush=True)  # fmt: skip
  ratio = results["full"]["peak_rss_mib"] / results["tenth"]["peak_rss_mib"]
  print(f"peak memory full / tenth: {ratio:.2f}")
  results["train"] = in_child("--child=train", f"--root={args.root}", f"--work={work}",
                              f"--store={work / 'tiles_full'}", f"--steps={args.steps}")  # fmt: skip
  figures = results["train"]
  print(f"train ({figures['platform']}, batch {figures['batch_size']}): step {figures['step_s']:.2f} s,"
        f" data wait {figures['data_wait_s']:.3f} s ({figures['data_wait_share']:.1%} of the step),"
        f" {figures['images_per_s']:.1f} images/s; checkpoint {figures['checkpoint_s']:.1f} s, "
        f"{figures['checkpoint_bytes'] / 2**20:.0f} MiB")  # fmt: skip
  print(json.dumps(results))


if __name__ == "__main__":
  main()
