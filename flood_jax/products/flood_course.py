"""A flood's course over several acquisitions of one area: the maps `predict` wrote (one folder,
a serial or a Dask run), ordered by acquisition time and warped onto the first map's grid
(nearest neighbour, in blocks of 512 rows and 2,048 columns through GDAL's WarpedVRT, so memory
stays flat however many and however large the maps), into:

- `max_extent.tif`: the maximum extent, a class map: flood water where any acquisition saw flood
  water, else permanent water where any saw it, else dry where any saw the ground, else excluded
  where one abstained, else no data;
- `flood_count.tif`: in how many acquisitions each pixel was flood water (65535: never seen);
- `first_flooded.tif`, `last_flooded.tif`: days since the first acquisition of the first and the
  last acquisition that saw the pixel flooded (NaN: never flooded);
- `area.csv`: per acquisition, its time, flood and permanent water and observed area (km², on
  the common grid) and the people in flood water its STAC Item counted;
- `area.png`: flooded area (and people) against time; `course.html`: the report of it all.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import sys
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from tqdm import tqdm

from flood_jax.core.figures import column, plt, save_figure
from flood_jax.core.files import clear_partial, commit, partial_path
from flood_jax.core.windows import column_blocks
from flood_jax.errors import DataError, UsageError
from flood_jax.mapping.classes import DRY, EXCLUDED, NODATA, PERMANENT_WATER, WATER, ClassScheme
from flood_jax.products import cog
from flood_jax.products.quicklook import count_picture
from flood_jax.products.report import course_html
from flood_jax.scenes.acquired import parse_time
from flood_jax.scenes.area import Cut, load_area
from flood_jax.scenes.geotiff import open_raster, read_window
from flood_jax.scenes.scene import Grid, bounded_gdal_cache, overlap_fraction

MIN_OVERLAP = 0.5  # a map must cover at least half of the first map's area to be of "one area"
BAND_ROWS = 512
NEVER = 65535  # flood_count where no acquisition saw the pixel
RANK = np.zeros(256, np.uint8)  # which class the maximum extent keeps where maps disagree
RANK[[EXCLUDED, DRY, PERMANENT_WATER, WATER]] = [1, 2, 3, 4]
FILES = {
  "max_extent": "max_extent.tif",
  "flood_count": "flood_count.tif",
  "first_flooded": "first_flooded.tif",
  "last_flooded": "last_flooded.tif",
  "area_csv": "area.csv",
  "area_png": "area.png",
  "report": "course.html",
}
PEOPLE_KEYS = ("flood_jax:people_in_flood_water", "flood_jax:people_in_water")


@dataclasses.dataclass(frozen=True)
class Acquisition:
  """One flood map of the course: its file, acquisition time, classes and grid."""

  path: Path
  acquired: dt.datetime
  names: dict[int, str]
  grid: Grid
  people: float | None = None  # in flood water, where the map's STAC Item counted them

  def days_after(self, start: dt.datetime) -> float:
    return (self.acquired - start).total_seconds() / 86400


def is_flood_map(path: Path) -> bool:
  """A class map `predict` wrote (not its probability, nor another program's raster)."""
  try:
    with rasterio.open(path) as dataset:
      return "flood_jax_classes" in dataset.tags() and (dataset.descriptions[0] or "").startswith(
        "flood map"
      )
  except rasterio.errors.RasterioIOError:
    return False


def find_maps(folder: str | Path) -> list[Path]:
  """The flood maps in `folder` (not its subfolders)."""
  folder = Path(folder)
  if not folder.is_dir():
    raise UsageError(f"--maps={folder}: not a folder of flood maps")
  maps = [path for path in sorted(folder.glob("*.tif")) if is_flood_map(path)]
  if len(maps) < 2:
    raise UsageError(
      f"--maps={folder}: {len(maps)} flood map(s) written by flood_jax.predict; a course needs 2+"
    )
  return maps


def _people(map_path: Path) -> float | None:
  """People in flood water from the STAC Item beside the map, if it counted them."""
  item = map_path.with_name(f"{map_path.stem}.json")
  try:
    properties = json.loads(item.read_text()).get("properties", {})
  except (OSError, ValueError):
    return None
  return next((float(properties[key]) for key in PEOPLE_KEYS if key in properties), None)


def read_acquisition(path: Path) -> Acquisition:
  """A map's time, classes and grid; DataError or UsageError naming it where it is missing,
  truncated or not a flood map of flood_jax's."""
  with open_raster(str(path)) as dataset:
    tags = dataset.tags()
    grid = Grid.of(dataset)
    check_pixels_readable(dataset)
  if not is_flood_map(path):
    raise UsageError(
      f"{path}: not a flood map written by flood_jax.predict (a scene? give scenes as "
      "--input=SCENES and the course maps them first)"
    )
  acquired = tags.get("flood_jax_acquired", "unknown")
  if acquired == "unknown":
    raise UsageError(
      f"{path}: no acquisition time; map its scene again with --acquired=ISO8601 (or from a "
      "product whose name or tags give it)"
    )
  try:
    names = {int(value): name for value, name in json.loads(tags["flood_jax_classes"]).items()}
  except (ValueError, KeyError) as error:
    raise DataError(f"{path}: its flood_jax_classes tag is not readable ({error})") from None
  return Acquisition(path, parse_time(acquired), names, grid, _people(path))


def check_pixels_readable(dataset) -> None:
  """DataError naming the file where its first or last block cannot be read (a truncated file
  has its header and loses its last blocks), before any output is made."""
  height, width = dataset.block_shapes[0]
  last = Window(max(dataset.width - width, 0), max(dataset.height - height, 0), width, height)
  try:
    for window in (Window(0, 0, width, height), last):
      dataset.read(1, window=window.intersection(Window(0, 0, dataset.width, dataset.height)))
  except rasterio.errors.RasterioIOError:
    raise DataError(f"{dataset.name}: cannot read its pixels, the file may be truncated") from None


def check_no_duplicates(course: list[Acquisition]) -> None:
  """UsageError naming both where one file, or one acquisition time, is given twice: a course
  would count that acquisition twice."""
  seen: dict = {}
  for one in course:
    for key, what in ((one.path.resolve(), "is given twice"), (one.acquired, "has the time of")):
      if key in seen:
        other = seen[key]
        detail = "" if what == "is given twice" else f" {other.path} ({one.acquired.isoformat()})"
        raise UsageError(f"{one.path}: {what}{detail}; a course counts each acquisition once")
      seen[key] = one


def acquisitions(paths: list[Path]) -> list[Acquisition]:
  """The maps in time order, each checked to cover the first one's area, none twice."""
  course = sorted((read_acquisition(path) for path in paths), key=lambda one: one.acquired)
  check_no_duplicates(course)
  first = course[0]
  for one in course[1:]:
    if (PERMANENT_WATER in one.names) != (PERMANENT_WATER in first.names):
      split, whole = (one, first) if PERMANENT_WATER in one.names else (first, one)
      raise UsageError(
        f"{whole.path}: its class 1 is all water, but {split.path.name} tells flood water from "
        "permanent water; map every scene of a course the same way (with or without "
        "--reference_water or --pre_event)"
      )
    covered = overlap_fraction(one.grid, first.grid)
    if covered < MIN_OVERLAP:
      raise UsageError(
        f"{one.path}: covers {covered:.0%} of the area of {first.path.name}; a course needs maps "
        "of one area"
      )
  return course


def course_scheme(course: list[Acquisition]) -> ClassScheme:
  """The classes of the maximum extent: every class any map has ("flood water" where the maps
  tell flood water from permanent water)."""
  return ClassScheme(
    permanent_water=any(PERMANENT_WATER in one.names for one in course),
    excluded=any(EXCLUDED in one.names for one in course),
  )


class Accumulator:
  """The course's rasters and per-acquisition areas, band by band on the first map's grid."""

  def __init__(self, course: list[Acquisition], writers: dict):
    self.course, self.writers = course, writers
    self.days = [one.days_after(course[0].acquired) for one in course]
    self.km2 = np.zeros((len(course), 256))  # per acquisition and class, on the common grid

  def add(self, top: int, left: int, bands: list[np.ndarray], areas: np.ndarray) -> None:
    """`bands`: each acquisition's classes of a block at row `top` and column `left`; `areas`:
    the ground area (km²) of a pixel of each of its rows."""
    shape = bands[0].shape
    count = np.zeros(shape, np.uint16)
    first, last = np.full(shape, np.nan, np.float32), np.full(shape, np.nan, np.float32)
    extent = np.full(shape, NODATA, np.uint8)
    for index, classes in enumerate(bands):
      flood = classes == WATER
      count += flood
      first[flood & np.isnan(first)] = self.days[index]
      last[flood] = self.days[index]
      extent = np.where(RANK[classes] > RANK[extent], classes, extent)
      for value in (DRY, WATER, PERMANENT_WATER, EXCLUDED):
        self.km2[index, value] += float((classes == value).sum(axis=1) @ areas)
    count[extent == NODATA] = NEVER
    for name, rows in (("max_extent", extent), ("flood_count", count), ("first_flooded", first),
                       ("last_flooded", last)):  # fmt: skip
      self.writers[name].write_rows(top, rows, left)

  def rows(self) -> list[dict]:
    """area.csv: one row per acquisition, in time order."""
    rows = []
    for index, one in enumerate(self.course):
      km2 = self.km2[index]
      rows.append({
        "acquired": one.acquired.isoformat(),
        "days": round(self.days[index], 4),
        "map": str(one.path),
        "flood_km2": round(km2[WATER], 6),
        "permanent_water_km2": round(km2[PERMANENT_WATER], 6),
        "observed_km2": round(km2[DRY] + km2[WATER] + km2[PERMANENT_WATER], 6),
        "people_in_flood_water": "" if one.people is None else round(one.people),
      })  # fmt: skip
    return rows


def _writers(folder: Path, course: list[Acquisition], grid: Grid) -> dict:
  scheme = course_scheme(course)
  tags = {"flood_jax_course": json.dumps([str(one.path) for one in course])}
  first = course[0].acquired.isoformat()
  specs = {
    "max_extent": ("classes", scheme.title("maximum flood extent"), scheme.names),
    "flood_count": ("count", "acquisitions in which the pixel was flood water", None),
    "first_flooded": ("days", f"first flooded acquisition, days after {first}", None),
    "last_flooded": ("days", f"last flooded acquisition, days after {first}", None),
  }  # fmt: skip
  writers = {}
  try:
    for name, (kind, description, class_names) in specs.items():
      writers[name] = cog.MapWriter(
        folder / FILES[name], grid, kind, tags, description, class_names
      )
  except BaseException:
    for writer in writers.values():
      writer.abort()
    raise
  return writers


def _warped(course: list[Acquisition], grid: Grid) -> list:
  """Each map on the course's grid (nearest), no data outside it."""
  opened = []
  for one in course:
    source = rasterio.open(one.path)
    vrt = WarpedVRT(source, crs=grid.crs, transform=grid.transform, width=grid.width,
                    height=grid.height, resampling=Resampling.nearest, nodata=NODATA)  # fmt: skip
    opened.append((source, vrt))
  return opened


def _accumulate(course: list[Acquisition], writers: dict, show_progress: bool, cut) -> Accumulator:
  """The maps, band by band, on the first map's grid or an area's `cut` of it (no data outside
  its polygons)."""
  grid = cut.grid if cut else course[0].grid
  accumulator, opened = Accumulator(course, writers), _warped(course, grid)
  try:
    starts = range(0, grid.height, BAND_ROWS)
    for top in tqdm(starts, desc="course", unit="band", disable=not show_progress, file=sys.stderr):
      rows = min(BAND_ROWS, grid.height - top)
      areas = grid.row_areas_m2(top, rows) / 1e6  # once per band: geodesic, a loop over rows
      for cols in column_blocks(grid.width):  # no temporary spans the maps' width
        window = Window(cols.start, top, cols.stop - cols.start, rows)
        blocks = [read_window(vrt, [1], window, NODATA, np.uint8)[0] for _, vrt in opened]
        if cut:
          outside = ~cut.inside(top, rows)[:, cols]
          blocks = [np.where(outside, NODATA, block) for block in blocks]
        accumulator.add(top, cols.start, blocks, areas)
  finally:
    for source, vrt in opened:
      vrt.close()
      source.close()
  return accumulator


def write_area_csv(path: Path, rows: list[dict]) -> None:
  with path.open("w", newline="") as file:
    writer = csv.DictWriter(file, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def _written_partials(course: list[Acquisition], folder: Path, show_progress: bool, cut) -> dict:
  grid = cut.grid if cut else course[0].grid
  writers = _writers(folder, course, grid)
  try:
    accumulator = _accumulate(course, writers, show_progress, cut)
    for writer in writers.values():
      writer.finish()
  except BaseException:
    for writer in writers.values():
      writer.abort()
    raise
  rows = accumulator.rows()
  write_area_csv(partial_path(folder / FILES["area_csv"]), rows)
  plot = io.BytesIO()
  plot_area_over_time(rows, plot)
  partial_path(folder / FILES["area_png"]).write_bytes(plot.getvalue())
  count_png = count_picture(partial_path(folder / FILES["flood_count"]), grid, len(course))
  summary = course_summary(course, accumulator)
  page = course_html(summary, rows, plot.getvalue(), count_png)
  partial_path(folder / FILES["report"]).write_text(page, encoding="utf-8")
  return summary


def course_summary(course: list[Acquisition], accumulator: Accumulator) -> dict:
  """What the course's report and printed line say."""
  km2 = accumulator.km2
  return {
    "acquisitions": len(course),
    "first": course[0].acquired.isoformat(),
    "last": course[-1].acquired.isoformat(),
    "max_flood_km2": float(km2[:, WATER].max()),
    "maps": [str(one.path) for one in course],
  }


def map_course(
  maps: str | Path | list[Path],
  output: str | Path,
  overwrite: bool = False,
  show_progress: bool = True,
  aoi=None,
) -> dict:
  """The course of the flood maps `maps` (a folder or a list of map files) into the folder
  `output`: every file or none. `aoi` (a vector file, (W, S, E, N) in degrees or a polygon;
  `scenes.area`) cuts the course to an area: the first map's window over it, no data outside."""
  paths = find_maps(maps) if not isinstance(maps, list) else [Path(path) for path in maps]
  course = acquisitions(paths)
  area = load_area(aoi)
  cut = Cut.of(area, course[0].grid, 0, str(course[0].path)) if area else None
  folder = Path(output)
  if folder.exists() and not folder.is_dir():
    raise UsageError(f"--output={folder}: not a folder")
  created = not folder.exists()
  folder.mkdir(parents=True, exist_ok=True)
  targets = [folder / name for name in FILES.values()]
  cog.check_outputs(targets, tuple(str(one.path) for one in course), overwrite)
  try:
    with bounded_gdal_cache():
      summary = _written_partials(course, folder, show_progress, cut)
  except BaseException:
    for path in targets:
      clear_partial(path)
    if created and not any(folder.iterdir()):
      folder.rmdir()
    raise
  for path in targets:
    commit(path)
  return summary


def plot_area_over_time(rows: list[dict], output) -> None:
  """Flooded area (km²) of each acquisition against its time, the observed area beside it and,
  where the maps counted them, the people in flood water on a second axis; `rows` as a flood's
  course writes area.csv. `output`: a path or a binary file (PNG)."""
  import datetime as dt

  times = [dt.datetime.fromisoformat(row["acquired"]) for row in rows]
  figure, axes = plt.subplots(figsize=(9, 4))
  axes.plot(times, column(rows, "flood_km2"), "o-", color="#1e5adc", lw=2, label="flood water")
  axes.set_ylabel("flood water (km²)")
  axes.set_ylim(bottom=0)
  axes.grid(alpha=0.3)
  people = column(rows, "people_in_flood_water")
  if np.isfinite(people).any():
    twin = axes.twinx()
    twin.plot(times, people, "s--", color="#c0392b", label="people in flood water")
    twin.set_ylabel("people in flood water")
    twin.set_ylim(bottom=0)
    twin.legend(loc="lower left")
  axes.legend(loc="best")
  axes.set_title(f"Flood water over {len(rows)} acquisitions")
  figure.autofmt_xdate()
  figure.tight_layout()
  save_figure(figure, output, dpi=100)
