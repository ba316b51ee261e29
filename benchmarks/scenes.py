"""Many scenes on a Dask LocalCluster: scenes per hour at 1 and 2 workers.

    python -m benchmarks.scenes [--model=MODEL_DIR] [--count=8] [--size=2000] [--workers=1,2]

Writes `count` synthetic two-band dB scenes of `size`² (benchmarks.scene.write_scene), then maps
the folder with `python -m flood_jax.predict --input=FOLDER --output=OUT --workers=N` for each N,
timing the whole command (worker start-up and model loading included). Each worker's engine
gets cores / N threads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.memory import PROJECT
from benchmarks.scene import write_scene


def main() -> None:
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--model", default=None, help="Model folder (default: the bundled one).")
  parser.add_argument("--count", type=int, default=8)
  parser.add_argument("--size", type=int, default=2000)
  parser.add_argument("--workers", default="1,2")
  args = parser.parse_args()
  print(f"{os.cpu_count()} logical cores; {args.count} scenes of {args.size}²", flush=True)
  results = []
  with tempfile.TemporaryDirectory() as scratch:
    scenes = Path(scratch) / "scenes"
    scenes.mkdir()
    for index in range(args.count):
      write_scene(scenes / f"scene_{index}.tif", (args.size, args.size))
    for workers in (int(value) for value in args.workers.split(",")):
      command = [sys.executable, "-m", "flood_jax.predict", f"--input={scenes}",
                 f"--output={Path(scratch) / f'out_{workers}'}", f"--workers={workers}"]  # fmt: skip
      if args.model:
        command.append(f"--model={args.model}")
      start = time.perf_counter()
      subprocess.run(command, cwd=PROJECT, check=True, capture_output=True, text=True)
      seconds = time.perf_counter() - start
      result = {"workers": workers, "scenes": args.count, "size": args.size,
                "seconds": round(seconds, 1), "scenes_per_hour": round(args.count * 3600 / seconds, 1)}  # fmt: skip
      results.append(result)
      print(f"{workers} worker(s): {result['scenes_per_hour']} scenes/hour "
            f"({seconds:.0f} s for {args.count})", flush=True)  # fmt: skip
  print(json.dumps(results))


if __name__ == "__main__":
  main()
