"""Seconds to the first map of one 512² chip in a cold process, and what the process imported.

    python -m benchmarks.first_map [--chip=PATH] [--repeats=3]

Runs each way a responder maps a chip, in a fresh Python process each time (nothing cached but
the operating system's file cache): `python -m flood_jax.predict` writing the COG and its STAC
Item, and the Python API (`flood_jax.load_model().map(vv, vh)`). Prints, per way, the median of
`--repeats` runs of: wall seconds from process start to the map, seconds importing flood_jax's
modules, peak resident memory, and whether jax or flax were imported. The bundled model on the
default engine (ONNX Runtime int8 on a CPU). Default chip: India_900498 of ../shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_CHIP = (
  PROJECT.parent
  / "shared/data/sen1floods11/v1.1/data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
)

API_SCRIPT = """
import json, resource, sys, time
start = time.perf_counter()
import rasterio
import flood_jax
model = flood_jax.load_model()
imported = time.perf_counter() - start
with rasterio.open(sys.argv[1]) as dataset:
  bands = dataset.read([1, 2]).astype("float32")
mapped = model.map(bands[0], bands[1], crs=dataset.crs, transform=dataset.transform)
print(json.dumps({
  "inside_s": time.perf_counter() - start, "import_and_load_s": imported,
  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
  "jax_or_flax": [name for name in ("jax", "flax") if name in sys.modules],
}))
"""


def run_cli(chip: Path, folder: Path) -> dict:
  start = time.perf_counter()
  output = folder / f"cli_{time.monotonic_ns()}.tif"
  command = [sys.executable, "-X", "importtime", "-m", "flood_jax.predict"]
  result = subprocess.run(
    [*command, f"--input={chip}", f"--output={output}"],
    cwd=PROJECT,
    capture_output=True,
    text=True,
    check=True,
  )
  wall = time.perf_counter() - start
  imported = [line.split("|") for line in result.stderr.splitlines() if "import time:" in line]
  rows = [part for part in imported if len(part) == 3 and part[1].strip().isdigit()]
  modules = {part[2].strip(): int(part[1]) for part in rows}
  top_level = sum(int(part[1]) for part in rows if not part[2].startswith("  "))  # µs, cumulative
  return {
    "wall_s": wall,
    "import_s": top_level / 1e6,
    "jax_or_flax": [name for name in ("jax", "flax") if name in modules],
    "peak_mib": _children_peak_mib(),
  }


def run_api(chip: Path) -> dict:
  start = time.perf_counter()
  result = subprocess.run(
    [sys.executable, "-c", API_SCRIPT, str(chip)],
    cwd=PROJECT,
    capture_output=True,
    text=True,
    check=True,
  )
  figures = json.loads(result.stdout.strip().splitlines()[-1])
  return {"wall_s": time.perf_counter() - start, **figures}


def _children_peak_mib() -> float:
  import resource

  return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--chip", default=str(DEFAULT_CHIP))
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  os.environ.setdefault("TQDM_DISABLE", "1")
  with tempfile.TemporaryDirectory() as folder:
    runs = {
      "predict (CLI)": [run_cli(Path(args.chip), Path(folder)) for _ in range(args.repeats)],
      "API (FloodModel.map)": [run_api(Path(args.chip)) for _ in range(args.repeats)],
    }
  for way, results in runs.items():
    median = {
      key: statistics.median(result[key] for result in results)
      for key in results[0]
      if isinstance(results[0][key], float)
    }
    figures = ", ".join(f"{key} {value:.2f}" for key, value in median.items())
    print(f"{way}: {figures}; imported jax/flax: {results[0]['jax_or_flax'] or 'none'}")


if __name__ == "__main__":
  main()
