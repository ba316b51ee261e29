"""The Python API: a model loaded once, then arrays, a scene or a list of scenes mapped.

    import flood_jax

    model = flood_jax.load_model()                      # the bundled model, on ONNX Runtime
    flood = model.map(vv_db, vh_db, crs=crs, transform=transform)
    flood.classes, flood.probability                    # uint8 map, float32 probability
    flood_jax.map_scene("S1A_IW_GRDH_....tif", "flood.tif", model=model)
    flood_jax.map_scenes("scenes.txt", "maps/", client=dask_client)

The programs (`python -m flood_jax.predict`) call the same functions, so a map made here has
the classes the command line gives for the same pixels. Errors are the project's error classes
(`flood_jax.DataError`, `UsageError`, ...) with the command line's one-line messages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyproj
from rasterio.crs import CRS
from rasterio.transform import Affine

from flood_jax.errors import DataError, UsageError
from flood_jax.mapping import identity
from flood_jax.mapping.classes import ClassScheme
from flood_jax.mapping.inference import TrainedModel
from flood_jax.mapping.loading import ENGINES, PRECISIONS, bundled_model, load_trained
from flood_jax.mapping.sieve import min_pixels
from flood_jax.products import batch
from flood_jax.products.scene_map import MapOptions, Outputs, write_scene
from flood_jax.products.summary import SceneSummary
from flood_jax.products.vectors import vectors_suffix as checked_suffix
from flood_jax.scenes import sources
from flood_jax.scenes.geotiff import check_same_grid
from flood_jax.scenes.scale import arrays_in_db
from flood_jax.scenes.scene import Grid


@dataclasses.dataclass(frozen=True)
class FloodMap:
  """A map of arrays: `classes` (uint8: 0 dry, 1 water, 255 no data) and `probability`
  (float32 water probability, NaN no data), on `crs` and `transform` where they were given."""

  classes: np.ndarray
  probability: np.ndarray
  crs: CRS | None = None
  transform: Affine | None = None
  scheme: ClassScheme = ClassScheme()
  scale: str = "db"  # the scale the arrays were read in, and why
  scale_reason: str = ""

  @property
  def water(self) -> np.ndarray:
    """bool: pixels of a water class."""
    return np.isin(self.classes, self.scheme.water_classes)


class FloodModel:
  """A loaded model and the options it maps with (`load_model`)."""

  def __init__(self, trained: TrainedModel, spec: batch.ModelSpec):
    self.trained, self.spec = trained, spec

  def __repr__(self) -> str:
    return f"FloodModel({self.describe()})"

  def describe(self) -> str:
    """Source, engine, threshold and map rules, as `predict` prints them."""
    return self.trained.describe()

  def training_data(self) -> str:
    """What the model was trained on: its data root, or that it saw synthetic data only."""
    return identity.training_data(self.trained)

  def map(
    self,
    vv: np.ndarray,
    vh: np.ndarray,
    *,
    scale: str = "auto",
    trust_scale: bool = False,
    crs: CRS | str | None = None,
    transform: Affine | None = None,
  ) -> FloodMap:
    """The flood map of VV and VH ([H, W], NaN where missing) in dB, power or amplitude:
    `scale="auto"` decides it from the values as `predict` does (and refuses values no reading
    of which looks like Sentinel-1); a `scale` given is checked against the values unless
    `trust_scale`. The decision is the map's `scale` and `scale_reason`.

    With `crs` and `transform` the minimum mapping unit counts the pixels' ground area; without,
    pixels are taken to be of the size the model was trained at.
    """
    _check_shapes(vv, vh)
    vv_db, vh_db, scale, reason = arrays_in_db(vv, vh, scale, trust_scale)
    vv_vh_db = np.stack([vv_db, vh_db], axis=-1).astype(np.float32)
    grid = _grid(vv_vh_db.shape[:2], crs, transform)
    pixel_area = grid.centre_pixel_area_m2() if grid else self.trained.pixel_size_m**2
    probability = self.trained.predict_array(vv_vh_db)
    rule = self.trained.rule
    mapped = rule.array_classes(probability, min_pixels(rule.min_area_m2, pixel_area), vv_vh_db)
    crs = grid.crs if grid else None
    return FloodMap(mapped, probability, crs, transform, scale=scale, scale_reason=reason)


def load_model(
  source: str | Path | None = None,
  *,
  engine: str = "auto",
  precision: str = "auto",
  threads: int | None = None,
  flips: bool | None = None,
  min_area_m2: float | None = None,
  water_caps: tuple[float | None, float | None] | None = None,
) -> FloodModel:
  """The bundled model (`source=None`), a model folder or a training workdir.

  `engine`: auto (ONNX Runtime on a CPU with a model folder, XLA on a GPU), xla or onnxruntime;
  `precision`: auto, float32 or int8; `flips`, `min_area_m2` and `water_caps` ((VV, VH) dB,
  None for no cap on a band) replace the model's own settings. Mapping with a model folder on
  ONNX Runtime imports neither jax nor flax.
  """
  source = bundled_model() if source is None else source
  for name, value, choices in (("engine", engine, ENGINES), ("precision", precision, PRECISIONS)):
    if value not in choices:
      raise UsageError(f"{name}={value!r}: choose from {', '.join(choices)}")
  spec = batch.ModelSpec(
    str(source), engine, precision, threads, flips, min_area_m2, water_caps, workdir_parts
  )  # fmt: skip
  return FloodModel(batch.worker_model(spec), spec)


def workdir_parts(workdir: str | Path) -> tuple:
  """A training workdir's (config, stats, variables, card) (`training.restore`, imported here on
  first use so that mapping with a model folder never imports jax)."""
  from flood_jax.training.restore import workdir_parts as restored

  return restored(workdir)


def trained_model(
  source: str | Path | None = None, engine: str = "auto", precision: str = "auto", threads=None
) -> TrainedModel:
  """The `TrainedModel` of a model folder, a training workdir or (None) the bundled model."""
  source = bundled_model() if source is None else source
  return load_trained(source, engine, precision, threads, workdir_parts)


def _check_shapes(vv: np.ndarray, vh: np.ndarray) -> None:
  """DataError unless both are [H, W] arrays of the same shape."""
  vv, vh = np.asarray(vv), np.asarray(vh)
  for name, band in (("VV", vv), ("VH", vh)):
    if band.ndim != 2:
      raise DataError(f"{name} array: {band.ndim}-D, expected [height, width]")
    if band.size == 0:
      raise DataError(
        f"{name} array: empty ({band.shape[0]} x {band.shape[1]}); expected at least one pixel"
      )
  vv_grid, vh_grid = (Grid(None, Affine.identity(), *band.shape).named(f"{name} array")
                      for name, band in (("VV", vv), ("VH", vh)))  # fmt: skip
  check_same_grid(vv_grid, {"VH": vh_grid})


def _grid(shape: tuple[int, int], crs, transform) -> Grid | None:
  """The arrays' grid, where both a CRS and a transform were given."""
  if (crs is None) != (transform is None):
    raise UsageError("give both crs and transform, or neither")
  if crs is None:
    return None
  try:
    crs = CRS.from_wkt(pyproj.CRS.from_user_input(crs).to_wkt())
  except pyproj.exceptions.CRSError as error:
    raise UsageError(f"crs={crs!r}: not a CRS PROJ knows ({error})") from None
  try:
    affine = Affine(*tuple(transform)[:6])
  except (TypeError, ValueError):
    raise UsageError(f"transform={transform!r}: expected an affine transform (6 numbers)") from None
  return Grid(crs, affine, *shape)


def map_options(options: MapOptions | None = None, **keywords) -> MapOptions:
  """`options` (default: MapOptions without a progress display) with `keywords` replacing its
  fields; an unknown name is a UsageError listing the valid ones."""
  known = {field.name for field in dataclasses.fields(MapOptions) if field.init}
  unknown = sorted(set(keywords) - known)
  if unknown:
    raise UsageError(f"unknown mapping options {unknown}; choose from {sorted(known)}")
  if options is not None and not isinstance(options, MapOptions):
    raise UsageError(f"options={options!r}: expected a flood_jax.MapOptions")
  return dataclasses.replace(options or MapOptions(show_progress=False), **keywords)


def map_scene(
  input: str | Path | None = None,
  output: str | Path | None = None,
  *,
  vv: str | Path | None = None,
  vh: str | Path | None = None,
  model: FloodModel | None = None,
  scale: str = "auto",
  probability: bool = False,
  vectors: str | Path | None = None,
  quicklook: str | Path | None = None,
  report: str | Path | None = None,
  acquired: str | None = None,
  options: MapOptions | None = None,
  **keywords,
) -> SceneSummary:
  """Maps one scene (`input`, or `vv` and `vh`) into the flood map COG `output`, as
  `python -m flood_jax.predict` does, and returns its `SceneSummary` (areas, people, scale
  decision, model, ...).

  `quicklook`: a PNG picture of the map over the radar image (`products.quicklook`).
  `report`: a self-contained HTML flood report with that picture (`products.report`).
  `acquired` (ISO 8601) replaces the acquisition time the product gives (or lacks).
  `options`: a `flood_jax.MapOptions` (reference_water, exclusion, hand, pre_event,
  resample_m, tile_size, overwrite, show_progress, ...); `keywords` name its fields too.
  """
  if output is None:
    raise UsageError("map_scene needs an output path for the flood map (.tif)")
  _check_switches(probability=probability)
  options = map_options(options, **keywords).resolved()
  scene = sources.resolve_input(
    None if input is None else str(input),
    None if vv is None else str(vv),
    None if vh is None else str(vh),
    scale,
    options.trust_scale,
    acquired,
  )
  outputs = Outputs.beside(Path(output), probability, None)
  outputs = dataclasses.replace(
    outputs,
    vectors=Path(vectors) if vectors else None,
    quicklook=Path(quicklook) if quicklook else None,
    report=Path(report) if report else None,
  )
  summary = write_scene((model or load_model()).trained, scene, outputs, options)
  return SceneSummary.of({**summary, "map": str(outputs.map)})


def map_scenes(
  inputs: str | Path | Sequence[str | Path | batch.SceneSpec],
  folder: str | Path,
  *,
  client=None,
  model: FloodModel | None = None,
  scale: str = "auto",
  probability: bool = False,
  vectors_suffix: str | None = None,
  quicklook: bool = False,
  report: bool = False,
  retries: int = 2,
  show_progress: bool = False,
  options: MapOptions | None = None,
  **keywords,
) -> list[SceneSummary]:
  """Maps many scenes into `folder`: a folder, a .txt list or a STAC ItemCollection, or a
  sequence of inputs (paths, or STAC items such as `flood_jax.search` returns). One row per
  scene (also `folder/summary.csv`); a scene that fails is a row with its error while the others
  go on; complete outputs are skipped. `quicklook` and
  `report` write `<scene>_flood.png` and `<scene>_flood.html` beside each map. A `pre_event`
  scene (a mosaic of the area before the flood) is compared with every scene. With a
  `dask.distributed` client, one task per scene on its workers. `options` and `keywords` as
  for `map_scene`; the pre-event scene is resolved once and carried to every scene."""
  _check_switches(probability=probability, quicklook=quicklook, report=report)
  scenes = batch.unique_names(_scene_specs(inputs))
  batch.check_folder_holds_no_input(scenes, folder)
  chosen = map_options(options, **keywords)
  chosen = chosen.checked()  # a bad layer or pre-event scene: one line, before any work
  batch.check_pre_event_not_listed(scenes, chosen)
  batch.check_output_folder(folder)
  spec = (model or load_model()).spec
  suffix = None if vectors_suffix is None else checked_suffix(vectors_suffix)
  job = batch.ListJob(chosen, scale, probability, suffix, quicklook, report)

  def on_row(rows):  # summary.csv as rows finish: a killed batch still has one
    batch.write_summary(rows, folder)

  if client is None:
    rows = batch.run_serial(scenes, spec, folder, job, show_progress, on_row)
  else:
    rows = batch.run_dask(scenes, spec, folder, job, client, retries, show_progress, on_row)
  batch.write_summary(rows, folder)
  return [SceneSummary.of(row) for row in sorted(rows, key=lambda row: row["scene"])]


def _check_switches(**switches) -> None:
  """UsageError where an on/off argument is not True or False ("no" is truthy)."""
  for name, value in switches.items():
    if not isinstance(value, bool):
      raise UsageError(f"{name}={value!r}: expected True or False")


def _scene_specs(inputs) -> list[batch.SceneSpec]:
  """The scenes of a listing, or of a sequence of inputs (paths or `batch.SceneSpec`s)."""
  if isinstance(inputs, (str, Path)):
    if not batch.is_scene_list(str(inputs)):
      raise UsageError(f"{inputs}: not a folder, .txt list or STAC ItemCollection of scenes")
    return batch.list_scenes(str(inputs))
  return [_scene_spec(entry) for entry in inputs]


def _scene_spec(entry) -> batch.SceneSpec:
  """A `batch.SceneSpec`, a path, or a STAC item (`flood_jax.search`'s) as one scene."""
  if isinstance(entry, batch.SceneSpec):
    return entry
  if hasattr(entry, "assets") and hasattr(entry, "datetime"):  # a pystac.Item
    return batch.item_scene(entry)
  return batch.SceneSpec(Path(str(entry).rstrip("/")).stem, input=str(entry))
