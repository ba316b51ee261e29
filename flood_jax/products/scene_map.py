"""One scene mapped into its files: the map COG, probability, polygons and STAC Item."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from absl import logging
from tqdm import tqdm

from flood_jax.core.files import clear_partial, commit, json_text, partial_path
from flood_jax.core.windows import column_blocks, window_starts
from flood_jax.errors import DataError, UsageError
from flood_jax.mapping.change import change_classes
from flood_jax.mapping.classes import DRY, EXCLUDED, NODATA, PERMANENT_WATER, WATER, ClassScheme
from flood_jax.mapping.inference import TrainedModel
from flood_jax.mapping.map_rules import map_rules
from flood_jax.mapping.pre_event import PreEvent, check_pair
from flood_jax.mapping.sieve import min_pixels
from flood_jax.products import cog
from flood_jax.products.quicklook import write_quicklook
from flood_jax.products.report import people_rows, report_html
from flood_jax.products.stac import stac_item
from flood_jax.products.summary import partial
from flood_jax.products.vectors import vectors_suffix, write_vectors
from flood_jax.scenes import sources
from flood_jax.scenes.area import Area, AreaReader, Cut, load_area, mapped_shape, scene_rows
from flood_jax.scenes.layers import Exclusion, ReferenceWater, open_georeferenced
from flood_jax.scenes.population import Population
from flood_jax.scenes.readers import open_scene
from flood_jax.scenes.scene import (
  Grid,
  SceneReader,
  bounded_gdal_cache,
  resampled_reader,
)

PIXEL_SIZE_TOLERANCE = 1.5  # warn where the input's pixels differ from the model's by more
# An area of interest is mapped with half a window of the scene around it: the model's
# windows there see the scene, not padding, so the map near the area's edges is the scene's.
AREA_CONTEXT_DIVISOR = 2


@dataclasses.dataclass(frozen=True)
class Outputs:
  """The files one scene's map writes."""

  map: Path
  probability: Path | None = None
  vectors: Path | None = None
  quicklook: Path | None = None
  report: Path | None = None

  def __post_init__(self):
    if self.vectors is not None:
      vectors_suffix(str(self.vectors))
    if self.quicklook is not None and Path(self.quicklook).suffix.lower() != ".png":
      raise UsageError(f"--quicklook={self.quicklook}: the picture is a .png")
    if self.report is not None and Path(self.report).suffix.lower() not in (".html", ".htm"):
      raise UsageError(f"--report={self.report}: the report is an .html file")

  @property
  def stac(self) -> Path:
    return self.map.with_name(f"{self.map.stem}.json")

  def all(self) -> list[Path]:
    paths = (self.map, self.probability, self.vectors, self.quicklook, self.report, self.stac)
    return [path for path in paths if path]

  @classmethod
  def beside(
    cls,
    map_path: Path,
    probability: bool,
    vectors_suffix: str | None,
    quicklook: bool = False,
    report: bool = False,
  ) -> Outputs:
    """The map at `map_path` and its companions named after it (`<stem>.png`, `<stem>.html`)."""
    map_path = Path(map_path)
    probability_path = (
      map_path.with_name(f"{map_path.stem}_probability.tif") if probability else None
    )
    vectors = map_path.with_suffix(vectors_suffix) if vectors_suffix is not None else None
    picture = map_path.with_suffix(".png") if quicklook else None
    page = map_path.with_suffix(".html") if report else None
    return cls(map_path, probability_path, vectors, picture, page)


RASTER_LAYERS = {  # MapOptions field: what its raster is, in errors
  "dem": "DEM",
  "reference_water": "reference water",
  "exclusion": "exclusion",
  "hand": "HAND",
  "population": "population",
}


@dataclasses.dataclass(frozen=True)
class MapOptions:
  """How a scene is mapped and what is written besides the flood map."""

  tile_size: int | None = None
  overlap: int | None = None
  batch_size: int | None = None
  probability_dtype: str = "uint8"
  reference_water: str | None = None
  permanent_water_percent: float = 90.0
  exclusion: str | None = None
  hand: str | None = None
  hand_max_m: float = 15.0
  population: str | None = None  # people per cell (WorldPop, GHS-POP): people in water counted
  pre_event: str | None = None
  pre_vv: str | None = None
  pre_vh: str | None = None
  pre_scale: str = "auto"
  max_pre_event_days: float = 60.0  # a pre-event scene older than this is warned about
  trust_scale: bool = False  # map a forced --scale (and --pre_scale) whatever the values look like
  resample_m: float | None = None
  dem: str | None = None  # heights (m, any CRS) for a GRD product's terrain correction
  # Area of interest: a vector file, (W, S, E, N) in degrees or a polygon (`scenes.area`).
  aoi: object = None
  overwrite: bool = False
  show_progress: bool = True
  # The pre-event scene resolved once (`resolved`), carried to every scene and worker.
  pre_event_input: sources.SceneInput | None = dataclasses.field(default=None, repr=False)
  area: Area | None = dataclasses.field(default=None, repr=False)  # `aoi` read once (`resolved`)

  @property
  def change_detection(self) -> bool:
    return bool(self.pre_event or self.pre_vv or self.pre_vh)

  @property
  def scheme(self) -> ClassScheme:
    """The map's classes: permanent water with a reference layer or a pre-event scene,
    excluded with exclusion layers."""
    return ClassScheme(
      permanent_water=self.reference_water is not None or self.change_detection,
      excluded=bool(self.exclusion or self.hand),
    )

  def checked(self) -> MapOptions:
    """These options, `resolved`, once every layer opens: DataError naming the file where a
    layer cannot be read or has no CRS, or where the pre-event scene is not one (checked once
    before a list of scenes is mapped with them)."""
    for name, what in RASTER_LAYERS.items():
      if getattr(self, name):
        open_georeferenced(getattr(self, name), what).close()
    return self.resolved()

  def resolved(self) -> MapOptions:
    """These options with the area of interest read and the pre-event scene resolved (its scale
    decided) once."""
    return dataclasses.replace(
      self, pre_event_input=self.pre_event_scene(), area=self.area_of_interest()
    )

  def area_of_interest(self) -> Area | None:
    """The area of interest, read (`scenes.area.load_area`), or None."""
    return self.area or load_area(self.aoi)

  def pre_event_scene(self) -> sources.SceneInput | None:
    """The pre-event scene, resolved (and its scale decided) as --input is."""
    if not self.change_detection:
      return None
    if self.pre_event_input is not None:
      return self.pre_event_input
    return sources.resolve_input(
      self.pre_event, self.pre_vv, self.pre_vh, self.pre_scale, self.trust_scale
    )


class AreaTally:
  """Pixels, ground area (km²) and, with a population layer, people of each class of `scheme`,
  summed band by band."""

  def __init__(self, grid: Grid, scheme: ClassScheme, counts_people: bool = False):
    self.grid, self.scheme, self.counts_people = grid, scheme, counts_people
    self.pixels = np.zeros(256, np.int64)
    self.km2 = np.zeros(256, np.float64)
    self.people = np.zeros(256, np.float64)

  def add(self, top: int, classes: np.ndarray, people: np.ndarray | None = None) -> None:
    areas = self.grid.row_areas_m2(top, len(classes)) / 1e6
    for value in self.scheme.names:
      inside = classes == value
      per_row = inside.sum(axis=1)
      self.pixels[value] += int(per_row.sum())
      self.km2[value] += float(per_row @ areas)
      if people is not None:
        self.people[value] += float(people[inside].sum())

  def _people(self) -> dict:
    """People in each water class (rounded to whole people)."""
    if not self.counts_people:
      return {}
    if not self.scheme.permanent_water:
      return {"people_in_water": round(self.people[WATER])}
    return {
      "people_in_flood_water": round(self.people[WATER]),
      "people_in_permanent_water": round(self.people[PERMANENT_WATER]),
    }

  def summary(self) -> dict:
    """Valid pixels (dry or water), and km² and share of valid pixels of each water class
    (and of excluded pixels, as a share of the valid and excluded ones)."""
    valid = int(self.pixels[list(self.scheme.valid_classes)].sum())
    share = lambda value: self.pixels[value] / valid if valid else float("nan")  # noqa: E731
    water = "flood" if self.scheme.permanent_water else "water"
    summary = {
      "valid_pixels": valid,
      "dry_km2": self.km2[DRY],
      "nodata_km2": self.km2[NODATA],
      "water_fraction": sum(share(value) for value in self.scheme.water_classes),
      f"{water}_km2": self.km2[WATER],
      f"{water}_fraction": share(WATER),
    }
    if self.scheme.permanent_water:
      summary.update(
        permanent_water_km2=self.km2[PERMANENT_WATER],
        permanent_water_fraction=share(PERMANENT_WATER),
      )
    if self.scheme.excluded:
      excluded = int(self.pixels[EXCLUDED])
      summary.update(
        excluded_km2=self.km2[EXCLUDED],
        excluded_fraction=excluded / (valid + excluded) if valid + excluded else float("nan"),
      )
    return {**summary, **self._people()}


def _resample_problem(grid: Grid, resample_m: float) -> str | None:
  """Why the scene cannot be mapped at `resample_m` metres, or None."""
  if grid.crs.is_geographic:
    return "--resample_m needs a projected CRS; warp it to UTM first"
  size = grid.pixel_size()
  if resample_m < size / 2:
    return (
      f"--resample_m={resample_m:g} is finer than half the input's {size:.1f} m pixels (it would "
      f"make {(size / resample_m) ** 2:.0f} pixels of each); use >= {size / 2:g}"
    )
  return None


def open_reader(
  scene: sources.SceneInput, model: TrainedModel, options: MapOptions, context: int = 0
):
  """The scene's reader, on a grid of `options.resample_m` metres if asked, cut to the area of
  interest (with `context` pixels around it for the model) if there is one."""
  reader = _resampled(open_scene(scene, options.dem), model, options.resample_m)
  area = options.area_of_interest()
  if area is None:
    return reader
  try:
    return AreaReader(reader, Cut.of(area, reader.grid, context, scene.name))
  except BaseException:
    reader.close()
    raise


def _resampled(reader: SceneReader, model: TrainedModel, resample_m: float | None):
  """The reader on a grid of `resample_m` metres if asked; warns once where the input's pixels
  differ from those the model was trained at by more than 1.5x."""
  scene = reader.scene
  trained, size = model.pixel_size_m, reader.grid.pixel_size()
  if resample_m:
    problem = _resample_problem(reader.grid, resample_m)
    if problem:
      reader.close()
      raise UsageError(f"{scene.name}: {problem}")
    return resampled_reader(reader, resample_m / reader.grid.crs.linear_units_factor[1])
  if max(size / trained, trained / size) > PIXEL_SIZE_TOLERANCE:
    logging.warning(
      "%s: pixels of %.1f m, but the model was trained at %.1f m; pass --resample_m=%g to map "
      "at that spacing",
      scene.name,
      size,
      trained,
      trained,
    )
  return reader


def _tags(scene: sources.SceneInput, model: TrainedModel, options: MapOptions) -> dict:
  """What the map records of how it was made (also how a rerun knows it is complete)."""
  return {
    "flood_jax_version": version("flood_jax"),
    "flood_jax_inputs": json.dumps(scene.files),
    "flood_jax_input_fingerprint": input_fingerprint(scene),
    "flood_jax_options_fingerprint": options_fingerprint(options),
    "flood_jax_model": model.describe(),
    "flood_jax_model_fingerprint": model.fingerprint(),
    "flood_jax_scale": scene.scale,
    "flood_jax_scale_reason": scene.scale_reason,
    "flood_jax_acquired": scene.acquired or "unknown",
  }


def _file_fingerprint(path: str) -> str:
  """A file's name, size and modification time (its name alone where it is not local)."""
  local = cog.local_path(path)
  stat = local.stat() if local.exists() else None
  return f"{path}:{stat.st_size}:{stat.st_mtime_ns}" if stat else path


def input_fingerprint(scene: sources.SceneInput) -> str:
  """Names, sizes and modification times of the scene's files (changes when they change)."""
  return "|".join(_file_fingerprint(path) for path in scene.files)


LAYER_OPTIONS = (*RASTER_LAYERS, "pre_event", "pre_vv", "pre_vh")  # options naming files


def options_fingerprint(options: MapOptions) -> str:
  """A digest of every option that changes what is written, with the name, size and time of
  each layer file they name: a map made with other layers, another spacing or other windows is
  not the map this run would make. An option that does nothing without its layer is left out."""
  fields = dataclasses.asdict(options)
  idle = {  # options that do nothing without their layer
    "hand_max_m": not options.hand,
    "permanent_water_percent": not options.reference_water,
    "pre_scale": not options.change_detection,
  }
  internal = ("show_progress", "overwrite", "pre_event_input", "max_pre_event_days", "area")
  for name in (*internal, *(name for name, unused in idle.items() if unused)):
    del fields[name]
  area = options.area_of_interest()
  fields["aoi"] = [str(area.crs), list(area.geometries)] if area else None
  for name in LAYER_OPTIONS:
    if fields[name]:
      fields[name] = _file_fingerprint(fields[name])
  return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


class SceneMapping:
  """The writers, sieve and tally of one scene, fed band by band by `write_scene`."""

  def __init__(self, model, scene, reader, outputs: Outputs, options: MapOptions, before=None):
    self.model, self.reader, self.grid, self.scheme = model, reader, reader.grid, options.scheme
    self.layers = []  # opened first: an unreadable one leaves no partial map behind
    self.covered = {}  # layer option -> (file, share of the scene's extent it covers)
    permanent = excluded = self.population = None
    try:
      if options.reference_water:
        reference = ReferenceWater(
          options.reference_water, self.grid, options.permanent_water_percent, scene.name
        )
        self.layers.append(reference)
        permanent = reference.permanent
        self.covered["reference_water"] = (reference.layer.path, reference.layer.covered)
      if self.scheme.excluded:
        exclusion = Exclusion(
          self.grid, options.exclusion, options.hand, options.hand_max_m, scene.name
        )
        self.layers.append(exclusion)
        excluded = exclusion.excluded
        self.covered.update({name: (layer.path, layer.covered)
                             for name, layer in exclusion.layers.items()})  # fmt: skip
      if options.population:
        self.population = Population(options.population, self.grid, scene.name)
        self.layers.append(self.population)
        self.covered["population"] = (self.population.path, self.population.covered)
    except BaseException:
      self.close()
      raise
    tags = {**_tags(scene, model, options), "flood_jax_classes": json.dumps(self.scheme.names)}
    for name, (path, share) in self.covered.items():
      tags[f"flood_jax_{name}"] = path
      tags[f"flood_jax_{name}_coverage"] = f"{share:.4f}"
    if before is not None:
      tags["flood_jax_pre_event"] = json.dumps(scene_summary(before))
    self.writers = [
      cog.MapWriter(outputs.map, self.grid, "classes", tags, self.scheme.title(), self.scheme.names)
    ]
    self.probability_kind = (
      "probability_float32" if options.probability_dtype == "float32" else "probability"
    )
    if outputs.probability:
      unit = "percent" if self.probability_kind == "probability" else "0 to 1"
      self.writers.append(
        cog.MapWriter(
          outputs.probability, self.grid, self.probability_kind, tags, f"water probability ({unit})"
        )
      )
    unit = min_pixels(model.rule.min_area_m2, self.grid.centre_pixel_area_m2())
    self.rules = map_rules(unit, self.scheme.permanent_water, permanent, excluded)
    self.tally = AreaTally(self.grid, self.scheme, counts_people=self.population is not None)

  def add(self, top: int, probability: np.ndarray, valid: np.ndarray, change=None) -> None:
    """A band of the blended model; `change`: (water before, drop) of a pre-event scene."""
    if len(self.writers) > 1:
      values = cog.probability_values(probability, valid, self.probability_kind)
      self.writers[1].write_rows(top, values)
    classes = self._classes(top, probability, valid)
    if change is not None:
      classes = change_classes(classes, *change)
    for row, finished in self.rules.push(top, classes):
      self._finish_rows(row, finished)

  def _classes(self, top: int, probability: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The model's classes of a band; with backscatter caps, the band's VV and VH are read
    again in blocks of columns (no array of the band's width and both bands)."""
    rule = self.model.rule
    if rule.caps == (None, None):
      return rule.classes(probability, valid)
    classes = np.empty(probability.shape, np.uint8)
    for cols in column_blocks(self.grid.width):
      vv_vh_db = self.reader.read_window(top, len(probability), cols.start, cols.stop - cols.start)
      classes[:, cols] = rule.classes(probability[:, cols], valid[:, cols], vv_vh_db)
    return classes

  def _finish_rows(self, top: int, classes: np.ndarray) -> None:
    self.writers[0].write_rows(top, np.asarray(classes, np.uint8))
    people = self.population.people(top, len(classes)) if self.population else None
    self.tally.add(top, classes, people)

  def finish(self) -> None:
    for row, classes in self.rules.finish():
      self._finish_rows(row, classes)
    for writer in self.writers:
      writer.finish()

  def abort(self) -> None:
    for writer in self.writers:
      writer.abort()

  def close(self) -> None:
    for layer in self.layers:
      layer.close()


def write_scene(
  model: TrainedModel,
  scene: sources.SceneInput | str | Path,
  outputs: Outputs | str | Path,
  options: MapOptions = MapOptions(),
) -> dict:
  """Maps one scene into `outputs` and returns its summary (also in the STAC Item)."""
  if not isinstance(scene, sources.SceneInput):
    scene = sources.resolve_input(str(scene))
  outputs = outputs if isinstance(outputs, Outputs) else Outputs(Path(outputs))
  before = options.pre_event_scene()
  if before is not None:
    check_pair(scene, before, options.max_pre_event_days)
  inputs = scene.files + (before.files if before else ())
  cog.check_outputs(outputs.all(), inputs, options.overwrite)
  try:  # all or nothing: every file under its partial name until all are written
    with bounded_gdal_cache():  # every read and write of the scene, the quicklook's included
      summary = _written_partials(model, scene, outputs, options, before)
  except BaseException:
    for path in outputs.all():
      clear_partial(path)
    raise
  for path in [*outputs.all()[1:], outputs.map]:  # the map last: it marks the scene complete
    commit(path)
  return summary


def _written_partials(model, scene, outputs: Outputs, options: MapOptions, before) -> dict:
  """Every file of the scene written under its partial name; the summary."""
  start = time.perf_counter()
  tiling = model.tiling(options.tile_size, options.overlap, options.batch_size)
  # One reader for the map and its picture: the quicklook's radar image is the map's grid (its
  # area of interest, its spacing), not the whole scene's.
  reader = open_reader(scene, model, options, context=tiling[0] // AREA_CONTEXT_DIVISOR)
  try:
    summary = _stream_scene(model, scene, reader, tiling, outputs, options, before)
    if outputs.vectors:
      map_written = partial_path(outputs.map)
      summary["polygons"] = write_vectors(
        map_written, outputs.vectors, options.scheme, pending=True, population=options.population
      )
    summary["seconds"] = round(time.perf_counter() - start, 1)
    if outputs.quicklook or outputs.report:
      _write_pictures(model, scene, reader, outputs, options.scheme, summary)
  finally:
    reader.close()
  extra = {
    "probability": outputs.probability,
    "vectors": outputs.vectors,
    "overview": outputs.quicklook,
    "report": outputs.report,
  }
  extra = {key: path for key, path in extra.items() if path}
  item_id = f"{scene.name}_flood_{model.fingerprint()[:8]}"  # unique per input and model
  item = stac_item(outputs.map, summary.pop("grid"), summary, extra, options.scheme, item_id)
  partial_path(outputs.stac).write_text(json_text(item))
  return summary


def _write_pictures(model, scene, reader, outputs: Outputs, scheme, summary: dict) -> None:
  """The quicklook PNG and the HTML report (the quicklook inline), under their partial names;
  the radar image read through the map's `reader`."""
  picture = io.BytesIO()
  write_quicklook(
    picture, partial_path(outputs.map), scene, reader, summary["grid"], scheme, summary
  )
  if outputs.quicklook:
    partial_path(outputs.quicklook).write_bytes(picture.getvalue())
  if outputs.report:
    page = report_html(summary, picture.getvalue(), model, scheme.names)
    partial_path(outputs.report).write_text(page, encoding="utf-8")


def _stream_scene(
  model: TrainedModel, scene, reader, tiling, outputs: Outputs, options: MapOptions, before
) -> dict:
  """The scene's map streamed from `reader` (which the caller closes) into the writers; the
  summary."""
  grid = reader.grid
  height, width = mapped_shape(reader)
  windows = len(window_starts(height, tiling[0], tiling[1])) * len(
    window_starts(width, tiling[0], tiling[1])
  )
  mapping = pre_event = None
  progress = tqdm(
    total=windows * (2 if before else 1),
    desc=f"predict {scene.name}",
    unit="tile",
    disable=not options.show_progress,
    file=sys.stderr,
  )
  try:
    if before is not None:
      pre_event = PreEvent(
        before, scene.name, grid, reader, model, tiling, progress.update, options.dem
      )
    mapping = SceneMapping(model, scene, reader, outputs, options, before)
    for top, probability, valid in scene_rows(model, reader, tiling, progress.update):
      change = pre_event.change(top, len(probability)) if pre_event else None
      mapping.add(top, probability, valid, change)
    mapping.finish()
  except BaseException:
    if mapping is not None:
      mapping.abort()
    raise
  finally:
    progress.close()
    for opened in (pre_event, mapping):
      if opened is not None:
        opened.close()
  summary = {
    **scene_summary(scene),
    **area_summary(reader),
    "model": model.describe(),
    "pixel_size_m": round(grid.pixel_size(), 3),
    "windows": windows,
    **mapping.tally.summary(),
    **layer_summary(mapping.covered),
    "grid": grid,
  }
  if before is not None:
    summary["pre_event"] = scene_summary(before)
  if summary["valid_pixels"] == 0:  # a map of no data reads as "no flood": none is written
    raise DataError(
      f"{scene.name}: no valid pixel (every pixel is no data or excluded); no map written"
    )
  return summary


def area_summary(reader) -> dict:
  """The area of interest a map covers, and the scene's window over it, if any."""
  if not isinstance(reader, AreaReader):
    return {}
  (row, col), grid = reader.cut.offset, reader.grid
  return {"area": reader.cut.area_name, "window": [row, col, grid.height, grid.width]}


def layer_summary(covered: dict) -> dict:
  """The layers a map used, by file, and the share of the scene's extent each covers."""
  if not covered:
    return {}
  shares = {f"{name}_coverage": round(share, 4) for name, (_, share) in covered.items()}
  return {"layers": {name: Path(path).name for name, (path, _) in covered.items()}, **shares}


def scene_summary(scene: sources.SceneInput) -> dict:
  """What a summary, the tags and the STAC Item say of an input scene."""
  return {
    "scene": scene.name,
    "inputs": list(scene.files),
    "scale": scene.scale,
    "scale_reason": scene.scale_reason,
    "acquired": scene.acquired or "unknown",
    "acquired_from": scene.acquired_from,
  }


def describe(outputs: Outputs, summary: dict) -> str:
  """The printed line: flood (and permanent) water in km² and % of valid pixels."""
  if "permanent_water_km2" in summary:
    water = (
      f"flood water {summary['flood_km2']:.3f} km² ({summary['flood_fraction']:.2%}), "
      f"permanent water {summary['permanent_water_km2']:.3f} km² "
      f"({summary['permanent_water_fraction']:.2%}){partial(summary, 'reference_water')}"
    )
  else:
    water = f"water {summary['water_km2']:.3f} km² ({summary['water_fraction']:.2%})"
  excluded = ""
  if "excluded_km2" in summary:
    excluded = f"; excluded {summary['excluded_km2']:.3f} km² ({summary['excluded_fraction']:.2%})"
  people = "".join(f"; {count:,} people {where}{partial(summary, 'population')}"
                   for where, count in people_rows(summary)[:1])  # fmt: skip
  return f"{outputs.map}: {water} of {summary['valid_pixels']:,} valid pixels{excluded}{people}"
