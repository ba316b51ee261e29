"""Whole-scene prediction: megapixels/s and peak resident memory against scene size.

    python -m benchmarks.scene [--model=MODEL_DIR | --workdir=W] [--engine=xla|onnxruntime]
        [--precision=float32|int8] [--sizes=5000,10000,20000x5000] [--input_form=power_pair]
        [--layers] [--quicklook] [--report] [--area_px=2000]

`--layers` maps with every ancillary layer: a pre-event scene (the same grid, no river), a
reference water layer in EPSG:4326 at about 30 m, an exclusion raster in Web Mercator at 60 m
and HAND in UTM at 30 m. `--area_px=N` maps each scene twice: whole, then only an area of
interest of N x N pixels in its middle (`--bbox`): the seconds of both and their ratio.

A size is N (a square) or HEIGHTxWIDTH (a tall scene tells growth with rows from growth with
columns). Each size runs in its own process (so peak memory is that size's alone) on a synthetic
two-band dB scene written strip by strip. The model is chosen as `flood_jax.predict` chooses it
(default: the bundled demo model on the default engine of this machine). Memory should stay
flat as the scene grows, since prediction holds one strip of windows at a time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

from benchmarks.memory import own_peak_mib, run_child


def scene_files(path: Path, form: str) -> list[Path]:
  """The files of the scene `path` names: itself, or (`power_pair`) its _VV and _VH files."""
  if form == "power_pair":
    return [path.with_name(f"{path.stem}_{band}.tif") for band in ("VV", "VH")]
  return [path]


def write_scene(
  path: Path,
  shape: tuple[int, int],
  strip: int = 512,
  form: str = "stacked_db",
  seed: int = 0,
  with_river=True,
) -> list[Path]:
  """A synthetic scene: one stacked VV/VH dB file, or (`power_pair`) two single-band files of
  linear power with 0 as no data, as ASF HyP3 writes them. Returns the files."""
  import numpy as np
  import rasterio
  from rasterio.transform import from_origin

  rng = np.random.default_rng(seed)
  height, width = shape
  profile = dict(driver="GTiff", height=height, width=width, count=2, dtype="float32", crs="EPSG:32633",
                 transform=from_origin(300000, 5000000, 10, 10), nodata=float("nan"), tiled=True,
                 blockxsize=512, blockysize=512, compress="deflate", BIGTIFF="YES")  # fmt: skip
  paths = scene_files(path, form)
  if form == "power_pair":
    profile.update(count=1, nodata=0.0)
  datasets = [rasterio.open(target, "w", **profile) for target in paths]
  columns = np.arange(width)
  for top in range(0, height, strip):
    rows = min(strip, height - top)
    river = with_river & (
      np.abs(np.sin((top + np.arange(rows))[:, None] / 300.0) * 2000 + 3000 - columns % 6000) < 200
    )
    vv = np.where(river, -20.0, -9.0) + rng.normal(0, 2.5, (rows, width))
    data = np.stack([vv, vv - 7.0]).astype(np.float32)
    data[:, :, : width // 50] = np.nan  # a no-data edge
    window = rasterio.windows.Window(0, top, width, rows)
    if form == "power_pair":
      power = np.where(np.isfinite(data), 10 ** (data / 10), 0.0).astype(np.float32)
      for dataset, band in zip(datasets, power, strict=True):
        dataset.write(band[None], window=window)
    else:
      datasets[0].write(data, window=window)
  for dataset in datasets:
    dataset.close()
  return paths


def parse_shape(text: str) -> tuple[int, int]:
  """(height, width) of a --sizes item: N or HEIGHTxWIDTH."""
  height, _, width = text.partition("x")
  return int(height), int(width or height)


def write_layers(scratch: Path, shape: tuple[int, int]) -> dict:
  """Ancillary layers over a scene of `shape` pixels (module doc), as MapOptions fields."""
  import numpy as np
  import rasterio
  from rasterio.transform import from_origin
  from rasterio.warp import transform_bounds

  bounds = (300000, 5000000 - 10 * shape[0], 300000 + 10 * shape[1], 5000000)
  layers = {}
  for name, crs, step, dtype, value in (
    ("reference_water", "EPSG:4326", 30 / 111_000, "uint8", 100),
    ("exclusion", "EPSG:3857", 60.0, "uint8", 1),
    ("hand", "EPSG:32633", 30.0, "float32", 40.0),
  ):
    west, south, east, north = transform_bounds("EPSG:32633", crs, *bounds, densify_pts=21)
    width, height = int((east - west) / step) + 2, int((north - south) / step) + 2
    path = scratch / f"{name}.tif"
    with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=1, dtype=dtype,
                       crs=crs, transform=from_origin(west, north, step, step), tiled=True,
                       compress="deflate", BIGTIFF="YES") as dataset:  # fmt: skip
      for top in range(0, height, 1024):
        rows = min(1024, height - top)
        band = np.zeros((rows, width), dtype)
        band[:, : width // 10] = value  # a tenth of the scene: permanent, excluded, high
        dataset.write(band[None], window=rasterio.windows.Window(0, top, width, rows))
    layers[name] = str(path)
  pre = write_scene(scratch / "pre_event.tif", shape, seed=1, with_river=False)
  return {**layers, "pre_event": str(pre[0])}


def child(size: str, options: argparse.Namespace, scratch: Path) -> dict:
  from flood_jax.api import trained_model
  from flood_jax.mapping.loading import BUNDLED_MODEL
  from flood_jax.products.scene_map import MapOptions, Outputs, write_scene
  from flood_jax.scenes.sources import resolve_input

  files = scene_files(scratch / f"scene_{size}.tif", options.input_form)  # the parent wrote them
  if len(files) == 2:
    scene = resolve_input(vv=str(files[0]), vh=str(files[1]))
  else:
    scene = resolve_input(str(files[0]))
  source = options.model or options.workdir or BUNDLED_MODEL
  model = trained_model(source, options.engine, options.precision)
  start = time.perf_counter()
  layers = json.loads((scratch / "layers.json").read_text()) if options.layers else {}
  picture = scratch / f"flood_{size}.png" if options.quicklook else None
  report = scratch / f"flood_{size}.html" if options.report else None
  name = f"flood_{size}" + (f"_area{options.area_px}" if options.area_px else "")
  outputs = Outputs(scratch / f"{name}.tif", quicklook=picture, report=report)
  area = centred_box(files[0], options.area_px) if options.area_px else None
  summary = write_scene(model, scene, outputs, MapOptions(show_progress=False, aoi=area, **layers))
  seconds = time.perf_counter() - start
  peak_mib = own_peak_mib()
  return {
    "size": size, "form": options.input_form, "scale": scene.scale,
    "seconds": round(seconds, 1),
    "megapixels_per_s": round(math.prod(parse_shape(size)) / seconds / 1e6, 3),
    "area_px": options.area_px,
    "peak_rss_mib": round(peak_mib, 1), "windows": summary["windows"], "model": model.describe(),
    "layers": sorted(layers),
    "quicklook": bool(options.quicklook), "report": bool(options.report),
  }  # fmt: skip


def centred_box(path: Path, side: int) -> tuple[float, float, float, float]:
  """(west, south, east, north) in degrees of the `side` x `side` pixels in the scene's middle."""
  import rasterio
  from rasterio.warp import transform_bounds

  with rasterio.open(path) as dataset:
    top, left = (dataset.height - side) // 2, (dataset.width - side) // 2
    west, north = dataset.transform @ (left, top)
    east, south = dataset.transform @ (left + side, top + side)
    return transform_bounds(dataset.crs, "EPSG:4326", west, south, east, north)


def main() -> None:
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--workdir", default=None, help="Training workdir (XLA).")
  parser.add_argument("--model", default=None, help="Model folder (default: the bundled one).")
  parser.add_argument("--engine", default="auto", choices=["auto", "xla", "onnxruntime"])
  parser.add_argument("--precision", default="auto", choices=["auto", "float32", "int8"])
  parser.add_argument(
    "--input_form",
    default="stacked_db",
    choices=["stacked_db", "power_pair"],
    help="One stacked dB file, or separate VV and VH power files (HyP3).",
  )
  parser.add_argument("--sizes", default="5000,10000,20000")
  parser.add_argument("--layers", action="store_true", help="Map with every ancillary layer.")
  parser.add_argument("--quicklook", action="store_true", help="Also draw the --quicklook PNG.")
  parser.add_argument("--report", action="store_true", help="Also write the --report HTML.")
  parser.add_argument(
    "--area_px", type=int, default=0, help="Also map an area of interest of N x N px alone."
  )
  parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
  parser.add_argument("--scratch", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(child(args.child, args, Path(args.scratch))))
    return
  import flax
  import jax

  print(
    f"jax {jax.__version__}, flax {flax.__version__}; XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}"
  )
  results = []
  with tempfile.TemporaryDirectory() as scratch:
    for size in args.sizes.split(","):
      # The scene is written in this process, so that the child's peak memory is prediction's.
      write_scene(Path(scratch) / f"scene_{size}.tif", parse_shape(size), form=args.input_form)
      if args.layers:
        layers = write_layers(Path(scratch), parse_shape(size))
        (Path(scratch) / "layers.json").write_text(json.dumps(layers))
      command = [f"--child={size}", f"--scratch={scratch}"]
      for name in ("workdir", "model"):
        if getattr(args, name):
          command.append(f"--{name}={getattr(args, name)}")
      command += [
        f"--engine={args.engine}",
        f"--precision={args.precision}",
        f"--input_form={args.input_form}",
        *(["--layers"] if args.layers else []),
        *(["--quicklook"] if args.quicklook else []),
        *(["--report"] if args.report else []),
      ]
      for area_px in [0, args.area_px] if args.area_px else [0]:
        result = run_child("benchmarks.scene", *command, f"--area_px={area_px}")
        results.append(result)
        what = f"area {area_px}² of scene {size}" if area_px else f"scene {size}"
        print(f"{result['model']}: {what}: {result['megapixels_per_s']:.2f} Mpx/s of the scene, peak RSS "
              f"{result['peak_rss_mib']:.0f} MiB, {result['windows']} windows, {result['seconds']:.1f} s",
              flush=True)  # fmt: skip
      if args.area_px:
        whole, area = results[-2:]
        print(f"scene {size}: the {args.area_px}² area took {area['seconds'] / whole['seconds']:.4f} "
              "of the whole scene's time", flush=True)  # fmt: skip
      for leftover in Path(scratch).glob("*"):
        leftover.unlink()
  if len(results) > 1:
    ratio = results[-1]["peak_rss_mib"] / results[0]["peak_rss_mib"]
    print(f"peak memory ratio {results[-1]['size']} / {results[0]['size']}: {ratio:.2f}")
  print(json.dumps(results))


if __name__ == "__main__":
  main()
