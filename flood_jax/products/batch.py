"""Mapping many scenes: one after another in this process, or one Dask task per scene.

A list of scenes is a folder, a text file with one input per line, or a STAC ItemCollection
JSON whose items carry `vv` and `vh` assets. Each scene is mapped by `scene_map.write_scene`
into the output folder; a scene whose outputs are complete and were made from the same input,
scale, model, options and layer files (the fingerprints recorded in the map's tags) is skipped,
so rerunning a command redoes only what is missing or was made otherwise. `FOLDER/summary.csv`
gets one row per scene.

On a `dask.distributed` cluster (a LocalCluster of `--workers` processes, or `--scheduler`), each
worker loads the model once and reuses it, with the engine's threads set so that workers x
threads matches the cores; a task whose worker dies is retried `--retries` times (Dask's
allowed failures) and a scene that still fails is reported with its one-line error while the
others go on. Outputs are written under partial names and renamed when complete, so a killed
worker leaves no file that looks finished.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import json
import os
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import rasterio

from flood_jax.core.files import atomic_path, probe_writable
from flood_jax.errors import FloodJaxError, UsageError
from flood_jax.mapping.loading import load_trained
from flood_jax.products.scene_map import (
  MapOptions,
  Outputs,
  input_fingerprint,
  options_fingerprint,
  write_scene,
)
from flood_jax.scenes import grd, sources
from flood_jax.scenes.search import is_grd, item_bands

AREA_FIELDS = (  # what a row says of a mapped scene, also read back from its STAC Item
  "valid_pixels",
  "water_km2",
  "flood_km2",
  "permanent_water_km2",
  "people_in_water",
  "people_in_flood_water",
  "reference_water_coverage",  # a figure fed by a layer covering under 1 is partial
  "exclusion_coverage",
  "hand_coverage",
  "population_coverage",
)
SUMMARY_FIELDS = [
  "scene",
  "input",
  "area",
  "acquired",
  "status",
  *AREA_FIELDS,
  "seconds",
  "worker",
  "map",
  "error",
]


@dataclasses.dataclass(frozen=True)
class SceneSpec:
  """One scene of a list: `input`, or `vv` and `vh`, and the name its outputs take."""

  name: str
  input: str | None = None
  vv: str | None = None
  vh: str | None = None
  acquired: str | None = None  # a STAC item's datetime
  item: str | None = None  # a GRD product as a STAC item (its JSON): `sources.grd_item_scene`


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """How a worker loads the model (it is loaded once per process)."""

  source: str
  engine: str = "auto"
  precision: str = "auto"
  threads: int | None = None
  flips: bool | None = None
  min_area_m2: float | None = None
  water_caps: tuple[float | None, float | None] | None = None
  # Reads a training workdir's parts (`training.restore.workdir_parts`, wired by the API):
  # mapping itself loads model folders only.
  workdir_parts: Callable | None = None


@dataclasses.dataclass(frozen=True)
class ListJob:
  """What every scene of a list is mapped with, as it travels to the Dask workers."""

  options: MapOptions = MapOptions()
  scale: str = "auto"
  probability: bool = False
  vectors_suffix: str | None = None
  quicklook: bool = False  # <scene>_flood.png beside each map
  report: bool = False  # <scene>_flood.html beside each map


def _resolved(href: str, folder: Path) -> str:
  """An asset's href with a relative path taken from the listing's folder (URLs, GDAL paths and
  absolute paths as they are)."""
  if href.startswith(("http://", "https://", "/vsi")) or Path(href).is_absolute():
    return href
  return str(folder / href)


def _stac_items(path: Path) -> list:
  """The items of a STAC ItemCollection, or the one item of a STAC Item."""
  import pystac

  try:
    text = json.loads(path.read_text())
    if isinstance(text, dict) and text.get("type") == "Feature":
      return [pystac.Item.from_dict(text)]
    return list(pystac.ItemCollection.from_dict(text))
  except (ValueError, KeyError, TypeError, pystac.STACError, pystac.STACTypeError) as error:
    raise UsageError(f"{path}: not a STAC ItemCollection or Item ({error})") from None


def item_scene(item, folder: Path | None = None) -> SceneSpec:
  """A STAC item's scene, named by its id, with its datetime: a GRD item as the item itself
  (its measurement, calibration and noise assets, `scenes.grd.ItemProduct`), any other by its
  `vv` and `vh` assets (relative hrefs from `folder`, the listing's; `scenes.search.item_bands`
  refuses the rest)."""
  when = item.datetime.isoformat() if item.datetime else None
  folder = folder or Path.cwd()
  if is_grd(item):
    entry = item.to_dict()
    problem = grd.item_asset_problem(entry)
    if problem:
      raise UsageError(f"item {item.id}: a GRD item with {problem}")
    for asset in entry["assets"].values():
      asset["href"] = _resolved(asset["href"], folder)
    return SceneSpec(item.id, acquired=when, item=json.dumps(entry))
  vv, vh = (grd.gdal_href(_resolved(href, folder)) for href in item_bands(item))
  return SceneSpec(item.id, vv=vv, vh=vh, acquired=when)


def _stac_scenes(path: Path) -> list[SceneSpec]:
  scenes = []
  for item in _stac_items(path):
    try:
      scenes.append(item_scene(item, path.parent))
    except UsageError as error:
      raise UsageError(f"{path}: {error}") from None
  return scenes


def list_scenes(listing: str) -> list[SceneSpec]:
  """The scenes of a folder, a text file (one input per line, # comments) or an ItemCollection."""
  path, kind = Path(listing), sources.input_kind(listing)
  if kind == "folder":
    return [SceneSpec(Path(entry).stem, input=entry) for entry in sources.folder_entries(path)]
  if kind == "stac_list":
    return _stac_scenes(path)
  lines = [line.strip() for line in path.read_text().splitlines()]
  entries = [line for line in lines if line and not line.startswith("#")]
  if not entries:
    raise UsageError(f"{path}: lists no scene")
  return [SceneSpec(Path(entry.rstrip("/")).stem, input=entry) for entry in entries]


def unique_names(scenes: list[SceneSpec]) -> list[SceneSpec]:
  """The scenes with names their outputs can take side by side: where two inputs share a stem
  (eventA/scene.tif and eventB/scene.tif, a zip and its unpacked folder), each takes a stable
  suffix from its input's path, so neither map replaces the other."""
  counts = Counter(scene.name for scene in scenes)
  renamed = []
  for scene in scenes:
    if counts[scene.name] > 1:
      where = str(scene.input or scene.vv)
      suffix = hashlib.sha1(where.encode()).hexdigest()[:6]
      scene = dataclasses.replace(scene, name=f"{scene.name}_{suffix}")
    renamed.append(scene)
  return renamed


def check_output_folder(folder: str | Path) -> None:
  """UsageError, before any work, where the folder of maps cannot be made or written."""
  folder = Path(folder)
  try:
    folder.mkdir(parents=True, exist_ok=True)
    probe_writable(folder)
  except OSError as error:
    raise UsageError(f"{folder}: cannot write maps there ({error.strerror})") from None


def _local_inputs(scenes: list[SceneSpec]):
  """(input as given, resolved path) of each local file the scenes name (not /vsi... ones)."""
  for scene in scenes:
    for where in (scene.input, scene.vv, scene.vh):
      if where and not where.startswith("/vsi"):
        yield where, Path(where).resolve()


def check_folder_holds_no_input(scenes: list[SceneSpec], folder: str | Path) -> None:
  """UsageError where the output folder holds an input (a rerun would map the maps)."""
  folder = Path(folder).resolve()
  for where, path in _local_inputs(scenes):
    if path.is_relative_to(folder):
      raise UsageError(f"{folder}: holds the input {where}; write the maps to another folder")


def check_pre_event_not_listed(scenes: list[SceneSpec], options: MapOptions) -> None:
  """UsageError where the pre-event scene is also a scene of the list (it would be mapped as a
  flood, and compared with itself)."""
  named = (options.pre_event, options.pre_vv, options.pre_vh)
  pre_event = {Path(where).resolve() for where in named if where}
  for where, path in _local_inputs(scenes):
    if path in pre_event:
      raise UsageError(f"{where}: is the pre-event scene and a scene of the list; move it out")


def is_scene_list(input: str | None) -> bool:
  """A list of scenes: a folder of inputs, a .txt list or a STAC ItemCollection."""
  return bool(input) and sources.input_kind(input) in sources.LIST_KINDS


@functools.lru_cache(maxsize=2)
def worker_model(spec: ModelSpec):
  """The model of this process, loaded on first use and kept (one per worker)."""
  model = load_trained(spec.source, spec.engine, spec.precision, spec.threads, spec.workdir_parts)
  return model.with_options(spec.flips, spec.min_area_m2, spec.water_caps)


def is_complete(outputs, scene, model, options: MapOptions) -> bool:
  """Outputs all there and made from the same input, scale, model, options and layer files (the
  map's tags say)."""
  if not all(path.exists() for path in outputs.all()):
    return False
  try:
    with rasterio.open(outputs.map) as dataset:
      tags = dataset.tags()
  except rasterio.errors.RasterioIOError:
    return False
  return (
    tags.get("flood_jax_input_fingerprint") == input_fingerprint(scene)
    and tags.get("flood_jax_scale") == scene.scale
    and tags.get("flood_jax_options_fingerprint") == options_fingerprint(options)
    and tags.get("flood_jax_model_fingerprint") == model.fingerprint()
  )


def _worker_name() -> str:
  try:
    from distributed import get_worker

    return str(get_worker().name)
  except (ImportError, ValueError):
    return f"{socket.gethostname()}:{os.getpid()}"


def map_listed_scene(
  scene_spec: SceneSpec, model_spec: ModelSpec, folder: str, job: ListJob
) -> dict:
  """Maps one scene into `folder` (or skips it when complete); one summary.csv row.

  Any error of this scene (a corrupt file, a library's exception) becomes its failed row with a
  one-line message naming its input, so the other scenes go on; only a dying worker makes Dask
  retry the task.
  """
  start = time.perf_counter()
  given = scene_spec.input or scene_spec.vv
  area = job.options.area_of_interest()
  row = {"scene": scene_spec.name, "input": given, "worker": _worker_name()}
  row["area"] = area.name if area else ""
  outputs = Outputs.beside(
    Path(folder) / f"{scene_spec.name}_flood.tif",
    job.probability,
    job.vectors_suffix,
    job.quicklook,
    job.report,
  )
  row["map"] = str(outputs.map)
  try:
    model = worker_model(model_spec)
    scene = listed_scene(scene_spec, job)
    if is_complete(outputs, scene, model, job.options):
      return {**row, **_recorded_areas(outputs), "status": "skipped (complete)", "seconds": 0.0}
    options = dataclasses.replace(job.options, overwrite=True, show_progress=False)
    summary = write_scene(model, scene, outputs, options)
  except Exception as error:  # this scene's failure, not the batch's
    seconds = round(time.perf_counter() - start, 1)
    return {**row, "status": "failed", "error": _one_line(error, scene_spec), "seconds": seconds}
  areas = {key: summary.get(key, "") for key in AREA_FIELDS}
  seconds = round(time.perf_counter() - start, 1)
  return {**row, "status": "done", "acquired": summary["acquired"], **areas, "seconds": seconds}


def listed_scene(scene_spec: SceneSpec, job: ListJob) -> sources.SceneInput:
  """The scene a list names: a GRD STAC item, or an input (or VV and VH) as --input takes it."""
  if scene_spec.item:
    return sources.grd_item_scene(scene_spec.item)
  return sources.resolve_input(
    scene_spec.input,
    scene_spec.vv,
    scene_spec.vh,
    job.scale,
    job.options.trust_scale,
    scene_spec.acquired,
  )


def _one_line(error: Exception, scene_spec: SceneSpec) -> str:
  """The error in one line that names the scene's input (the project's errors already do)."""
  if isinstance(error, FloodJaxError):
    return str(error)
  where = scene_spec.input or scene_spec.vv
  message = " ".join(f"{type(error).__name__}: {error}".split())[:500]
  return message if where and where in message else f"{where}: {message}"


def _recorded_areas(outputs: Outputs) -> dict:
  """The areas a complete scene's STAC Item recorded when it was mapped."""
  try:
    properties = json.loads(outputs.stac.read_text()).get("properties", {})
  except (OSError, ValueError):
    return {}
  return {key: properties.get(f"flood_jax:{key}", "") for key in AREA_FIELDS}


def summary_path(folder: str | Path) -> Path:
  return Path(folder) / "summary.csv"


def write_summary(rows: list[dict], folder: str | Path) -> Path:
  """FOLDER/summary.csv: one row per scene, sorted by name."""
  path = summary_path(folder)
  with atomic_path(path) as partial, partial.open("w", newline="") as file:
    writer = csv.DictWriter(file, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda row: row["scene"]))
  return path


def run_serial(
  scenes, model_spec, folder, job: ListJob, show_progress=True, on_row=None
) -> list[dict]:
  """Each scene in turn in this process; `on_row(rows so far)` after each."""
  from tqdm import tqdm

  Path(folder).mkdir(parents=True, exist_ok=True)
  rows = []
  for scene in tqdm(
    scenes, desc="scenes", unit="scene", disable=not show_progress, file=sys.stderr
  ):
    rows.append(map_listed_scene(scene, model_spec, str(folder), job))
    if on_row:
      on_row(rows)
  return rows


def run_dask(
  scenes, model_spec, folder, job: ListJob, client, retries: int, show_progress=True, on_row=None
) -> list[dict]:
  """One task per scene on `client`; a task that still fails after `retries` is a failed row."""
  from distributed import as_completed
  from tqdm import tqdm

  Path(folder).mkdir(parents=True, exist_ok=True)  # on a shared filesystem for remote workers
  # Keys unique to this run: with a scene's name alone, Dask may hand back a previous run's
  # result still held by the scheduler instead of checking the files again.
  run = uuid.uuid4().hex[:8]
  futures = {}
  for scene in scenes:
    key = f"map-{scene.name}-{run}"
    future = client.submit(
      map_listed_scene, scene, model_spec, str(folder), job, key=key, retries=retries
    )
    futures[future] = scene
  rows = []
  progress = tqdm(
    total=len(futures), desc="scenes", unit="scene", disable=not show_progress, file=sys.stderr
  )
  for future in as_completed(futures):
    scene = futures[future]
    try:
      rows.append(future.result())
    except Exception as error:  # a worker died more than `retries` times, or a bug
      rows.append({"scene": scene.name, "status": "failed", "error": _one_line(error, scene)})
    if on_row:
      on_row(rows)
    progress.update()
  progress.close()
  return rows


def dask_client(workers: int | None, scheduler: str | None, retries: int):
  """A client of `scheduler`, or of a LocalCluster of `workers` single-threaded processes.

  A worker that dies takes its task to another; after `retries` deaths the task fails
  (Dask's distributed.scheduler.allowed-failures, set here for a local cluster).
  """
  try:
    import dask
    from distributed import Client, LocalCluster
  except ImportError:
    raise UsageError("--workers and --scheduler need Dask: pip install -e '.[cluster]'") from None
  if scheduler:
    return Client(scheduler)
  dask.config.set({"distributed.scheduler.allowed-failures": retries})
  cluster = LocalCluster(
    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
  )
  return Client(cluster)


def threads_per_worker(workers: int | None) -> int:
  """Engine threads so that workers x threads matches the cores of this machine."""
  from flood_jax.mapping.engines import available_cores

  return max(available_cores() // max(workers or 1, 1), 1)


def report(rows: list[dict], path: Path) -> bool:
  """Prints failed scenes and the counts (with summary.csv at `path`); True if every scene is
  done or skipped."""
  failed = [row for row in rows if row["status"] == "failed"]
  for row in failed:
    print(f"failed: {row['scene']}: {row.get('error', '')}", file=sys.stderr)
  done = sum(row["status"] == "done" for row in rows)
  print(
    json.dumps(
      {
        "scenes": len(rows),
        "done": done,
        "failed": len(failed),
        "skipped": len(rows) - done - len(failed),
        "summary": str(path),
      }
    )
  )
  return not failed
