"""Flood maps of whole Sentinel-1 scenes, from the products responders have.

    python -m flood_jax.predict --input=SCENE --output=FLOOD.tif [--probability]
        [--reference_water=JRC_OCCURRENCE.tif] [--vectors=FLOOD.gpkg] [--model=MODEL_DIR]

SCENE is a stacked VV/VH GeoTIFF (Sen1Floods11 chips, Earth Engine exports with VV, VH, angle),
an ASF HyP3 RTC product (its folder or zip), or any path GDAL opens; `--vv=PATH --vh=PATH`
gives two single-band rasters (Planetary Computer). A folder, a .txt list or a STAC
ItemCollection maps many scenes into the --output folder (`flood_jax.products.batch`), serially or on
Dask with --workers or --scheduler. `--scale=auto` decides dB, power or amplitude (see
`flood_jax.scenes.scale`). With no --model or --workdir the model shipped with the package maps
the scene.

Writes, with the input's CRS and transform (or a `--resample_m` grid): the flood map COG (uint8:
0 dry, 1 water, or flood water when a reference water layer separates permanent water as 2, 255
no data; colour table and overviews), `<map>_probability.tif` with --probability, water polygons
with --vectors, and a STAC Item `<map stem>.json`. Overlapping windows are predicted in batches
and blended, strip by strip, so memory is bounded by one strip whatever the scene size. Nothing
is overwritten without --overwrite, no input is ever replaced, and a killed run leaves only
partial files, which the next run clears.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from absl import flags

from flood_jax import api, cli, model_flags
from flood_jax.api import FloodModel
from flood_jax.core.files import atomic_path, json_text
from flood_jax.errors import DataError, UsageError
from flood_jax.model_flags import define_model_flags, model_source, parse_water_caps
from flood_jax.products import batch
from flood_jax.products.scene_map import MapOptions, Outputs, describe
from flood_jax.products.vectors import vectors_suffix
from flood_jax.scenes import sources
from flood_jax.scenes.acquired import parse_time
from flood_jax.scenes.area import load_area, parse_bbox

FLAGS = flags.FLAGS


def define_flags() -> None:
  define_model_flags()
  flags.adopt_module_key_flags(model_flags)  # --help lists the model's flags with these
  flags.DEFINE_string(
    "input",
    None,
    "Scene (GeoTIFF, HyP3 folder or zip, GDAL path), or a "
    "list of scenes: a folder, a .txt of inputs or a STAC ItemCollection .json.",
  )
  define_scene_flags("", "Input")
  flags.DEFINE_string(
    "acquired",
    None,
    "Acquisition time (ISO 8601, e.g. 2026-11-30T05:42:10Z) where the product does not say it "
    "(its name or tags); otherwise the map says 'unknown'.",
  )
  flags.DEFINE_bool(
    "trust_scale",
    False,
    "Map a forced --scale (or --pre_scale) even where the values do not look like Sentinel-1 "
    "read in it (by default that stops with what was seen).",
  )
  define_output_flags()
  define_layer_flags()
  define_window_flags()
  define_area_flags()
  define_search_flags()


def define_area_flags() -> None:
  """The area of interest: only the scenes' window over it is read and mapped."""
  flags.DEFINE_string(
    "aoi",
    None,
    "Area of interest: a vector file of polygons (GeoJSON, GeoPackage, Shapefile, FlatGeobuf; "
    "any CRS). Only the scene's window over it is mapped; outside the polygons is no data.",
  )
  flags.DEFINE_string(
    "bbox", None, "Area of interest as W,S,E,N in degrees (EPSG:4326), instead of --aoi."
  )


def define_search_flags() -> None:
  """A STAC search for the scenes of the area (--aoi or --bbox) and dates."""
  flags.DEFINE_string(
    "stac",
    None,
    "STAC API to search for the scenes of --aoi/--bbox (instead of --input), e.g. "
    "https://planetarycomputer.microsoft.com/api/stac/v1 (pip install -e '.[search]').",
  )
  flags.DEFINE_string("collection", None, "The collection to search (e.g. sentinel-1-rtc).")
  flags.DEFINE_string(
    "datetime", None, "Dates to search: START/END (ISO 8601; '..' leaves an end open)."
  )
  flags.DEFINE_integer("max_items", 100, "Map at most this many items found.", lower_bound=1)


def area_from_flags():
  """--aoi or --bbox, read (`scenes.area`), or None; both is a UsageError."""
  if FLAGS.aoi and FLAGS.bbox:
    raise UsageError("give --aoi (a vector file) or --bbox (W,S,E,N), not both")
  return parse_bbox(FLAGS.bbox) if FLAGS.bbox else load_area(FLAGS.aoi)


def define_output_flags() -> None:
  """What is written and where."""
  flags.DEFINE_string("output", None, "Output flood map (.tif), or a folder when --input is one.")
  flags.DEFINE_bool("overwrite", False, "Replace existing outputs (never inputs).")
  flags.DEFINE_bool("probability", False, "Also write <map>_probability.tif.")
  flags.DEFINE_string(
    "quicklook",
    None,
    "Also write a PNG picture (1,200 px wide) of the map over the scene's VV, with a legend, "
    "scale bar, north arrow, date, inputs and flooded area; with a list of scenes, "
    "--quicklook=.png writes one beside each map.",
  )
  flags.DEFINE_string(
    "report",
    None,
    "Also write a self-contained HTML flood report (.html): the picture, areas, people, inputs, "
    "acquisition time, model, rules and limits; opens offline in any browser. With a list of "
    "scenes, --report=.html writes one beside each map.",
  )
  flags.DEFINE_enum(
    "probability_dtype",
    "uint8",
    ["uint8", "float32"],
    "uint8: percent 0-100, 255 no data; float32: 0-1, NaN no data.",
  )
  flags.DEFINE_string(
    "reference_water",
    None,
    "Reference water occurrence raster (JRC GSW, "
    "0-100 %): water there becomes permanent water (2).",
  )
  flags.DEFINE_float(
    "permanent_water_percent",
    90.0,
    "Occurrence (%) from which water is permanent.",
    lower_bound=0.0,
    upper_bound=100.0,
  )
  flags.DEFINE_string(
    "vectors",
    None,
    "Water polygons (.gpkg, .geojson, .fgb or .shp); with a folder input, the suffix of one "
    "file per map (e.g. --vectors=.gpkg).",
  )


def define_window_flags() -> None:
  """The grid and windows the model maps on, and how lists of scenes are spread."""
  flags.DEFINE_float(
    "resample_m",
    None,
    "Map on a grid of this pixel size (m, >= 1) instead of the input's (power is averaged).",
    lower_bound=1.0,
  )
  flags.DEFINE_string(
    "dem",
    None,
    "Heights (m, any CRS and resolution) for a GRD product's terrain correction; without it a "
    "GRD is geocoded on the geolocation grid's heights (fine in flat land).",
  )
  flags.DEFINE_integer("tile_size", None, "Window size (default: the model's).", lower_bound=1)
  flags.DEFINE_integer(
    "overlap", None, "Window overlap in pixels (default: the model's).", lower_bound=0
  )
  flags.DEFINE_integer(
    "batch_size", None, "Windows per batch (default: the model's).", lower_bound=1
  )
  flags.DEFINE_integer(
    "workers",
    None,
    "Map a list of scenes on a local Dask cluster of this "
    "many worker processes (pip install -e '.[cluster]').",
    lower_bound=1,
  )
  flags.DEFINE_string(
    "scheduler", None, "Map a list of scenes on an existing Dask cluster, e.g. tcp://HOST:8786."
  )
  flags.DEFINE_integer(
    "retries", 2, "Times a scene is retried when its Dask worker dies.", lower_bound=0
  )


def define_layer_flags() -> None:
  """The exclusion layers and the pre-event scene of change detection."""
  flags.DEFINE_string(
    "exclusion",
    None,
    "Exclusion raster (any CRS and resolution): its nonzero pixels are excluded (3), where "
    "the map abstains (shadow, urban, sand, ...).",
  )
  flags.DEFINE_string(
    "hand", None, "HAND raster (height above nearest drainage, m): above --hand_max_m excluded."
  )
  flags.DEFINE_float(
    "hand_max_m", 15.0, "HAND (m) above which pixels are excluded.", lower_bound=0.0
  )
  flags.DEFINE_string(
    "population",
    None,
    "Population count raster (people per cell: WorldPop, GHS-POP; any CRS and resolution): "
    "the people in flood water are counted (summary, STAC Item, polygons, report).",
  )
  flags.DEFINE_string(
    "pre_event",
    None,
    "Pre-event scene of the same area, in any form --input takes: flood (1) is then water "
    "that was not there before, water in both is permanent (2). With a list of scenes, every "
    "scene is compared with it (e.g. a mosaic of the area before the flood).",
  )
  define_scene_flags("pre_", "Pre-event")
  flags.DEFINE_float(
    "max_pre_event_days",
    60.0,
    "Warn where the pre-event scene is older than this many days (both times known); one "
    "acquired at or after the post-event scene is refused.",
    lower_bound=0.0,
  )


def define_scene_flags(prefix: str, what: str) -> None:
  """--<prefix>vv, --<prefix>vh (a scene as two single-band rasters) and --<prefix>scale."""
  flags.DEFINE_string(
    f"{prefix}vv", None, f"{what} VV raster (with --{prefix}vh), e.g. a Planetary Computer asset."
  )
  flags.DEFINE_string(f"{prefix}vh", None, f"{what} VH raster (with --{prefix}vv).")
  flags.DEFINE_enum(
    f"{prefix}scale", "auto", ["auto", *sources.SCALES], f"Scale of the {what.lower()} values."
  )


def options_from_flags() -> MapOptions:
  return MapOptions(
    tile_size=FLAGS.tile_size,
    overlap=FLAGS.overlap,
    batch_size=FLAGS.batch_size,
    probability_dtype=FLAGS.probability_dtype,
    reference_water=FLAGS.reference_water,
    permanent_water_percent=FLAGS.permanent_water_percent,
    exclusion=FLAGS.exclusion,
    hand=FLAGS.hand,
    hand_max_m=FLAGS.hand_max_m,
    population=FLAGS.population,
    pre_event=FLAGS.pre_event,
    pre_vv=FLAGS.pre_vv,
    pre_vh=FLAGS.pre_vh,
    pre_scale=FLAGS.pre_scale,
    max_pre_event_days=FLAGS.max_pre_event_days,
    trust_scale=FLAGS.trust_scale,
    resample_m=FLAGS.resample_m,
    dem=FLAGS.dem,
    aoi=area_from_flags(),
    overwrite=FLAGS.overwrite,
  )


def beside_map(value: str | None) -> str | None:
  """A file flag of one scene: a path, or a suffix alone (--vectors=.gpkg, as lists take it),
  which names the file beside the map (flood.tif -> flood.gpkg)."""
  if value and value.startswith(".") and "/" not in value:
    return str(Path(FLAGS.output).with_suffix(value))
  return value


def one_scene(model: FloodModel) -> None:
  """--input or --vv/--vh: one scene into --output."""
  summary = api.map_scene(
    FLAGS.input,
    FLAGS.output,
    vv=FLAGS.vv,
    vh=FLAGS.vh,
    model=model,
    scale=FLAGS.scale,
    probability=FLAGS.probability,
    vectors=beside_map(FLAGS.vectors),
    quicklook=beside_map(FLAGS.quicklook),
    report=beside_map(FLAGS.report),
    acquired=FLAGS.acquired,
    options=options_from_flags(),
  )
  outputs = Outputs.beside(Path(FLAGS.output), FLAGS.probability, None)
  print(f"scale: {summary['scale']} ({summary['scale_reason']})", file=sys.stderr)
  print(f"acquired: {summary['acquired']} ({summary['acquired_from']})", file=sys.stderr)
  print(describe(outputs, summary))


def scene_list(model: FloodModel, folder: Path, scenes: list | None = None) -> list:
  """A folder, list or ItemCollection (or `scenes`, `batch.SceneSpec`s) into `folder`:
  serially, or on Dask; exits with status 1 where a scene failed. A pre-event scene (a mosaic
  of the area before the flood) is compared with every scene; one it does not overlap is that
  scene's failed row."""
  rows = mapped_list(model, folder, scenes)
  if not batch.report(rows, batch.summary_path(folder)):
    sys.exit(1)
  return rows


def mapped_list(model: FloodModel, folder: Path, scenes: list | None = None) -> list:
  """The rows of `scene_list`'s scenes mapped into `folder` (failed ones included)."""
  for name, suffix in (("quicklook", ".png"), ("report", ".html")):
    if getattr(FLAGS, name) not in (None, suffix):
      raise UsageError(
        f"--{name}={getattr(FLAGS, name)}: with a list of scenes, give the suffix alone "
        f"(--{name}={suffix}) for a <scene>_flood{suffix} beside each map"
      )
  if folder.suffix.lower() in (".tif", ".tiff"):
    raise UsageError(f"{folder}: --input names several scenes, so --output must be a folder")
  if scenes is None:
    scenes = (
      FLAGS.input
      if batch.is_scene_list(FLAGS.input)
      else [batch.SceneSpec(Path(FLAGS.input or FLAGS.vv).stem, FLAGS.input, FLAGS.vv, FLAGS.vh)]
    )
  # Every scene of a list: skipped when complete, never replaced; one progress bar for the list.
  options = dataclasses.replace(options_from_flags(), overwrite=False, show_progress=True)
  common = dict(
    model=model,
    scale=FLAGS.scale,
    probability=FLAGS.probability,
    vectors_suffix=vectors_suffix(FLAGS.vectors) if FLAGS.vectors else None,
    quicklook=bool(FLAGS.quicklook),
    report=bool(FLAGS.report),
    show_progress=True,
    options=options,
  )
  if FLAGS.workers or FLAGS.scheduler:
    with batch.dask_client(FLAGS.workers, FLAGS.scheduler, FLAGS.retries) as client:
      return api.map_scenes(scenes, folder, client=client, retries=FLAGS.retries, **common)
  return api.map_scenes(scenes, folder, **common)


def searched_scenes(model: FloodModel, folder: Path) -> None:
  """--stac: the items of --collection over the area and --datetime, mapped over the area into
  `folder` (`<item id>_flood.tif`, the items found in `folder/items.json`) and, where the maps
  span more than one date, the flood's course in `folder/course`; exits with status 1 where a
  scene failed."""
  from flood_jax.products.flood_course import map_course
  from flood_jax.scenes.search import search

  area = area_from_flags()
  items = search(FLAGS.stac, FLAGS.collection, area, datetime=FLAGS.datetime,
                 max_items=FLAGS.max_items)  # fmt: skip
  if not items:
    raise DataError(
      f"{FLAGS.stac}: no {FLAGS.collection} item meets {area.name} within {FLAGS.datetime or 'any date'}"
    )
  scenes = [batch.item_scene(item) for item in items]  # a GRD item: one line before any map
  print(f"{FLAGS.stac}: {len(items)} {FLAGS.collection} items: "
        f"{', '.join(item.id for item in items)}", file=sys.stderr)  # fmt: skip
  batch.check_output_folder(folder)
  folder.mkdir(parents=True, exist_ok=True)
  write_items(items, folder / "items.json")
  rows = mapped_list(model, folder, scenes)
  ok = batch.report(rows, batch.summary_path(folder))
  mapped = [row for row in rows if row["status"] != "failed"]
  dates = {item.id: item.datetime and item.datetime.date() for item in items}
  if len({dates.get(row["scene"]) for row in mapped}) > 1:
    course = map_course([Path(row["map"]) for row in mapped], folder / "course", overwrite=True,
                        show_progress=False, aoi=area)  # fmt: skip
    print(f"{folder / 'course'}: {course['acquisitions']} acquisitions, {course['first']} to "
          f"{course['last']}; largest flood water {course['max_flood_km2']:.3f} km²")  # fmt: skip
  if not ok:
    sys.exit(1)


def write_items(items: list, path: Path) -> None:
  """The items found, as a STAC ItemCollection (`--input=PATH` maps them again)."""
  import pystac

  with atomic_path(path) as partial:
    partial.write_text(json_text(pystac.ItemCollection(items).to_dict()))


def load_model() -> FloodModel:
  """The model the flags name; with --workers, its threads share this machine's cores."""
  threads = FLAGS.threads or (batch.threads_per_worker(FLAGS.workers) if FLAGS.workers else None)
  return api.load_model(
    model_source(FLAGS.model, FLAGS.workdir),
    engine=FLAGS.engine,
    precision=FLAGS.precision,
    threads=threads,
    flips=FLAGS.flips,
    min_area_m2=FLAGS.min_area_m2,
    water_caps=parse_water_caps(FLAGS.max_water_caps),
  )


def main() -> None:
  cli.require("output")
  if FLAGS.stac and (FLAGS.input or FLAGS.vv or FLAGS.vh):
    raise UsageError("give --stac (scenes to search for) or --input (scenes you have), not both")
  if FLAGS.stac and not (FLAGS.aoi or FLAGS.bbox):
    raise UsageError("--stac needs the area to search: --aoi=PATH or --bbox=W,S,E,N")
  if not (FLAGS.stac or FLAGS.input or FLAGS.vv or FLAGS.vh):  # before minutes of loading a model
    raise UsageError("--input (or --vv and --vh, or --stac) is required")
  if FLAGS.acquired:
    parse_time(FLAGS.acquired)
  area_from_flags()  # a bad area of interest: one line before the model loads
  model = load_model()
  print(f"model: {model.describe()}", file=sys.stderr)
  print(f"trained on: {model.training_data()}", file=sys.stderr)
  if FLAGS.stac:
    searched_scenes(model, Path(FLAGS.output))
  elif batch.is_scene_list(FLAGS.input) or FLAGS.workers or FLAGS.scheduler:
    scene_list(model, Path(FLAGS.output))
  else:
    one_scene(model)


if __name__ == "__main__":
  cli.run(define_flags, main)
