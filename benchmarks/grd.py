"""A full-size Sentinel-1 IW GRD product mapped as downloaded: seconds, megapixels/s (of the
10 m UTM grid and of the product) and peak resident memory.

    python -m benchmarks.grd [--lines=16700] [--samples=25500] [--zipped] [--area_px=2000]

The product (`benchmarks/grd_product.py`: the product specification's files, uint16 digital
numbers through the inverse of its calibration and noise LUTs) is written in this process, strip
by strip: land at -9 dB VV and meandering rivers at -20 dB, on a descending pass with a 12 degree
heading near 27 N. It is mapped in a child process (its own peak memory) by the bundled model, as
`flood_jax.predict --input=PRODUCT` maps it; `--area_px=N` maps an N x N px area of interest in
its middle instead.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from benchmarks.memory import own_peak_mib, run_child

HEADING = math.radians(12)
ORIGIN = (400_000.0, 3_100_000.0)  # UTM 36N, about 28 N 32 E


def geometry():
  """lonlat(lines, pixels) of the product: 10 m lines and pixels, turned by HEADING."""
  from pyproj import Transformer

  to_lonlat = Transformer.from_crs("EPSG:32636", "EPSG:4326", always_xy=True)

  def lonlat(lines, pixels):
    x = ORIGIN[0] + 10 * (pixels * math.cos(HEADING) + lines * math.sin(HEADING))
    y = ORIGIN[1] - 10 * (lines * math.cos(HEADING) - pixels * math.sin(HEADING))
    return to_lonlat.transform(x, y)

  return lonlat


def write_product(folder: Path, lines: int, samples: int, zipped: bool) -> Path:
  import numpy as np

  from benchmarks.grd_product import write_grd

  rng = np.random.default_rng(0)
  columns = np.arange(samples)

  def rows_of(first: int, count: int):
    rows = first + np.arange(count)[:, None]
    river = np.abs(np.sin(rows / 300.0) * 2000 + 3000 - columns % 6000) < 200
    vv_db = np.where(river, -20.0, -9.0) + rng.normal(0, 2.0, (count, samples))
    vv = 10 ** (vv_db / 10)
    return vv, vv * 10 ** (-0.7)

  return write_grd(folder, (lines, samples), rows_of, geometry(), zipped=zipped)


def child(product: str, area_px: int) -> dict:
  from flood_jax.api import trained_model
  from flood_jax.mapping.loading import BUNDLED_MODEL
  from flood_jax.products.scene_map import MapOptions, Outputs, write_scene
  from flood_jax.scenes.readers import open_scene
  from flood_jax.scenes.sources import resolve_input

  scene = resolve_input(product)
  reader = open_scene(scene)
  grid, size = reader.grid, reader.shape
  reader.close()
  area = None
  if area_px:
    centre = grid.transform @ (grid.width / 2, grid.height / 2)
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    half = 5 * area_px
    west, south = to_lonlat.transform(centre[0] - half, centre[1] - half)
    east, north = to_lonlat.transform(centre[0] + half, centre[1] + half)
    area = (west, south, east, north)
  model = trained_model(BUNDLED_MODEL, "auto", "auto")
  output = Path(product).with_name(f"flood{'_area' if area else ''}.tif")
  start = time.perf_counter()
  summary = write_scene(model, scene, Outputs(output), MapOptions(show_progress=False, aoi=area))
  seconds = time.perf_counter() - start
  mapped = math.prod(summary["window"][2:]) if area else grid.height * grid.width
  return {
    "product": Path(product).name, "product_px": list(size), "grid_px": [grid.height, grid.width],
    "area_px": area_px, "seconds": round(seconds, 1),
    "grid_megapixels_per_s": round(mapped / seconds / 1e6, 3),
    "product_megapixels_per_s": round(math.prod(size) / seconds / 1e6, 3) if not area else None,
    "peak_rss_mib": round(own_peak_mib(), 1), "windows": summary["windows"],
    "water_km2": round(summary["water_km2"], 1), "model": model.describe(),
  }  # fmt: skip


def main() -> None:
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--lines", type=int, default=16_700)
  parser.add_argument("--samples", type=int, default=25_500)
  parser.add_argument("--zipped", action="store_true", help="Map the product's .zip.")
  parser.add_argument("--area_px", type=int, default=0)
  parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(child(args.child, args.area_px)))
    return
  with tempfile.TemporaryDirectory() as scratch:
    start = time.perf_counter()
    product = write_product(Path(scratch), args.lines, args.samples, args.zipped)
    print(f"wrote {product.name} ({args.lines} x {args.samples}) in "
          f"{time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
    result = run_child("benchmarks.grd", f"--child={product}", f"--area_px={args.area_px}")
  what = f"an area of {args.area_px}² px" if args.area_px else "the whole product"
  print(f"{result['model']}: {what}: {result['seconds']:.0f} s, {result['grid_megapixels_per_s']:.2f} "
        f"Mpx/s of the 10 m grid ({result['grid_px'][0]} x {result['grid_px'][1]}), peak RSS "
        f"{result['peak_rss_mib']:.0f} MiB", flush=True)  # fmt: skip
  print(json.dumps(result))


if __name__ == "__main__":
  main()
