"""A flood's course: seconds and peak resident memory against map size and number of maps.

    python -m benchmarks.course [--cases=3x5000,3x20000,12x5000]

A case is COUNTxSIZE: COUNT synthetic flood maps of SIZE² pixels (UTM, 10 m; a flood that
recedes from one map to the next, each map 40 px east of the one before, so every one is warped),
written as `predict` writes them (COG, classes, tags, acquisition time) in this process; the
course runs in a child process, so the peak memory printed is the course's alone. Memory should
not grow with the size of the maps nor with their number (band by band, one band of each map).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

from benchmarks.memory import own_peak_mib, run_child

STRIP = 512


def write_maps(folder: Path, count: int, size: int) -> None:
  """`count` maps of `size`² whose flood (a disc) shrinks with time."""
  import numpy as np
  from rasterio.crs import CRS
  from rasterio.transform import from_origin

  from flood_jax.core.files import commit
  from flood_jax.mapping.classes import ClassScheme
  from flood_jax.products.cog import MapWriter
  from flood_jax.scenes.scene import Grid

  scheme, start = ClassScheme(), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
  columns = np.arange(size)
  for index in range(count):
    transform = from_origin(300000 + 400 * index, 5000000, 10, 10)
    grid = Grid(CRS.from_epsg(32633), transform, size, size)
    tags = {"flood_jax_classes": json.dumps(scheme.names),
            "flood_jax_acquired": (start + dt.timedelta(days=6 * index)).isoformat()}  # fmt: skip
    path = folder / f"map_{index:02d}.tif"
    writer = MapWriter(path, grid, "classes", tags, scheme.title(), scheme.names)
    radius = size * (0.45 - 0.3 * index / max(count - 1, 1))
    for top in range(0, size, STRIP):
      rows = np.arange(top, min(top + STRIP, size))[:, None]
      inside = (rows - size / 2) ** 2 + (columns[None] - size / 2) ** 2 < radius**2
      writer.write_rows(top, inside.astype(np.uint8))
    writer.finish()
    commit(path)


def child(folder: Path) -> dict:
  from flood_jax.products.flood_course import map_course

  start = time.perf_counter()
  summary = map_course(folder, folder / "course", show_progress=False)
  return {
    "seconds": round(time.perf_counter() - start, 1),
    "peak_rss_mib": round(own_peak_mib(), 1),
    "max_flood_km2": round(summary["max_flood_km2"], 3),
  }


def main() -> None:
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--cases", default="3x5000,3x20000,12x5000")
  parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(child(Path(args.child))))
    return
  results = []
  for case in args.cases.split(","):
    count, size = (int(part) for part in case.split("x"))
    with tempfile.TemporaryDirectory() as scratch:
      write_maps(Path(scratch), count, size)
      result = {"case": case, **run_child("benchmarks.course", f"--child={scratch}")}
    results.append(result)
    print(f"course of {count} maps of {size}²: {result['seconds']:.1f} s, "
          f"peak RSS {result['peak_rss_mib']:.0f} MiB", flush=True)  # fmt: skip
  print(json.dumps(results))


if __name__ == "__main__":
  main()
