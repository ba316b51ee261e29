"""What a responder hands on: people in flood water, the flood report in a real browser, and a
flood's course over several acquisitions."""

import json

import numpy as np
import pyogrio
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform, transform_bounds

from experiments.handover_pictures import find_chromium, receding_scenes
from experiments.handover_pictures import screenshot as render
from flood_jax.errors import DataError
from flood_jax.scenes.population import Population
from flood_jax.scenes.scene import Grid

CHIP = "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"


def _grid(path) -> Grid:
  with rasterio.open(path) as dataset:
    return Grid(dataset.crs, dataset.transform, dataset.height, dataset.width)


def _population(path, grid: Grid, crs: str, cell: float, seed: int = 0):
  """Random counts on cells of `cell` (in `crs`'s units) covering `grid` with a margin; returns
  (counts, x0, y0)."""
  west, south, east, north = transform_bounds(grid.crs, crs, *grid.bounds())
  x0, y0 = np.floor(west / cell) * cell - 3 * cell, np.ceil(north / cell) * cell + 3 * cell
  width, height = int((east - x0) / cell) + 4, int((y0 - south) / cell) + 4
  counts = np.random.default_rng(seed).gamma(2.0, 50.0, (height, width)).astype(np.float32)
  counts[:2, :] = -99999  # WorldPop's no data: no people
  with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=1,
                     dtype="float32", crs=crs, transform=from_origin(x0, y0, cell, cell),
                     nodata=-99999) as dataset:  # fmt: skip
    dataset.write(counts[None])
  return np.where(counts < 0, 0, counts).astype(np.float64), x0, y0


def _hand_count(grid: Grid, inside: np.ndarray, crs: str, counts, x0, y0, cell) -> float:
  """People in the pixels `inside`, by hand: 4x4 points in each pixel, each taking the share of
  its cell's count that its part of the pixel's ground area is of the cell's (UTM: planar)."""
  sub = 4
  rows, cols = np.nonzero(inside)
  offsets = (np.arange(sub) + 0.5) / sub
  people = 0.0
  areas = grid.row_areas_m2(0, grid.height)
  for dy in offsets:
    for dx in offsets:
      xs, ys = grid.transform @ (cols + dx, rows + dy)
      xs, ys = (np.asarray(values) for values in transform(grid.crs, crs, xs, ys))
      cell_rows, cell_cols = ((y0 - ys) // cell).astype(int), ((xs - x0) // cell).astype(int)
      people += float((counts[cell_rows, cell_cols] * areas[rows] / sub**2 / cell**2).sum())
  return people


def test_people_in_flood_water_match_a_hand_count_on_a_coarser_grid_in_another_crs(
  real_root, tmp_path, monkeypatch
):
  """A real chip (EPSG:4326, ~10 m) and people on 90 m UTM cells: the summary, the STAC Item
  and the polygons count the people in water within 1% of a hand count (the polygons' people
  summed over bands of 100 rows here, so that polygons cross bands)."""
  import flood_jax
  from flood_jax.products import vectors

  monkeypatch.setattr(vectors, "PEOPLE_ROWS", 100)

  chip = real_root / CHIP
  grid = _grid(chip)
  utm = "EPSG:32646"
  counts, x0, y0 = _population(tmp_path / "people.tif", grid, utm, 90.0)
  map_path = tmp_path / "flood.tif"
  summary = flood_jax.map_scene(
    chip, map_path, population=str(tmp_path / "people.tif"), vectors=tmp_path / "flood.gpkg"
  )
  with rasterio.open(map_path) as dataset:
    water = dataset.read(1) == 1
  assert water.mean() > 0.3
  hand = _hand_count(grid, water, utm, counts, x0, y0, 90.0)
  assert summary["people_in_water"] == pytest.approx(hand, rel=0.01)
  item = json.loads((tmp_path / "flood.json").read_text())
  assert item["properties"]["flood_jax:people_in_water"] == summary["people_in_water"]
  info = pyogrio.read_info(tmp_path / "flood.gpkg")
  people = pyogrio.raw.read(tmp_path / "flood.gpkg")[3][list(info["fields"]).index("people")]
  assert people.sum() == pytest.approx(summary["people_in_water"], rel=0.001)
  assert (people >= 0).all() and people.max() > 0


def test_counts_are_conserved_when_the_scene_is_the_coarser_grid(tmp_path):
  """People on 10 m cells in UTM, a scene of 0.002° pixels: each cell's people go to the pixel
  that holds the cell's centre, by hand; the warped counts agree per pixel block within 1%."""
  grid = Grid(rasterio.crs.CRS.from_epsg(4326), from_origin(93.74, 26.76, 0.002, 0.002), 12, 15)
  utm = "EPSG:32646"
  counts, x0, y0 = _population(tmp_path / "people.tif", grid, utm, 10.0, seed=1)
  layer = Population(str(tmp_path / "people.tif"), grid)
  people = layer.people(0, grid.height)
  layer.close()
  cell_rows, cell_cols = np.indices(counts.shape)
  xs, ys = transform(utm, grid.crs, (x0 + (cell_cols.ravel() + 0.5) * 10.0).tolist(),
                     (y0 - (cell_rows.ravel() + 0.5) * 10.0).tolist())  # fmt: skip
  cols, rows = ~grid.transform * (np.asarray(xs), np.asarray(ys))
  inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
  hand = np.zeros((grid.height, grid.width))
  np.add.at(hand, (rows[inside].astype(int), cols[inside].astype(int)), counts.ravel()[inside])
  assert people.sum() == pytest.approx(hand.sum(), rel=0.01)
  assert people[3:6, 4:9].sum() == pytest.approx(hand[3:6, 4:9].sum(), rel=0.01)
  assert people[5, 7] == pytest.approx(hand[5, 7], rel=0.05)  # its edges cut cells


def test_a_population_raster_that_misses_the_scene_stops_before_any_output(real_root, tmp_path):
  """Counting nobody in silence would tell a response team that no one is in the water."""
  from test_cli_errors import assert_clean_error, run

  elsewhere = tmp_path / "people.tif"
  with rasterio.open(elsewhere, "w", driver="GTiff", height=10, width=10, count=1,
                     dtype="float32", crs="EPSG:4326",
                     transform=from_origin(10.0, 50.0, 0.01, 0.01)) as dataset:  # fmt: skip
    dataset.write(np.ones((1, 10, 10), np.float32))
  with pytest.raises(DataError, match="does not overlap the scene"):
    Population(str(elsewhere), _grid(real_root / CHIP))
  (tmp_path / "out").mkdir()
  result = run(
    "flood_jax.predict",
    f"--input={real_root / CHIP}",
    f"--output={tmp_path / 'out' / 'flood.tif'}",
    f"--population={elsewhere}",
  )
  assert result.returncode == 2
  assert_clean_error(result, str(elsewhere), "does not overlap the scene")
  assert not any((tmp_path / "out").iterdir())


def _chromium() -> str:
  """Debian's chromium (.ci/run installs it); skipped elsewhere, never in CI."""
  import os

  found = find_chromium()
  if not found:
    if os.environ.get("CI"):
      pytest.fail("CI needs Debian's chromium for the browser tests (apt-get install chromium)")
    pytest.skip("headless Chromium not installed (apt-get install chromium)")
  return found


def screenshot(page, png, height=2200):
  """`page` rendered by headless Chromium with every network request sent nowhere."""
  render(page, png, height, _chromium())


def external_references(page) -> list[str]:
  """Every src, href, url(...) or script of the page that a browser would fetch."""
  import re
  from html.parser import HTMLParser

  found = []

  class Links(HTMLParser):
    def handle_starttag(self, tag, attrs):
      if tag in ("script", "link", "iframe", "object", "embed"):
        found.append(tag)
      found.extend(value for name, value in attrs if name in ("src", "href") and
                   not (value or "").startswith(("data:", "#")))  # fmt: skip

  text = page.read_text(encoding="utf-8")
  Links().feed(text)
  found += [url for url in re.findall(r"url\(([^)]*)\)|@import", text) if "data:" not in url]
  return found


def test_the_report_is_self_contained_and_renders_offline_in_chromium(real_root, tmp_path):
  """--report: one HTML file with the picture inline, the areas, the inputs and the model's
  limits, that headless Chromium renders with the network cut off."""
  import matplotlib.image

  import flood_jax

  report = tmp_path / "report.html"
  summary = flood_jax.map_scene(
    real_root / CHIP, tmp_path / "flood.tif", report=report, acquired="2016-08-12T11:50:00Z"
  )
  assert not (tmp_path / "flood.png").exists()  # the picture lives inside the report
  assert external_references(report) == []
  text = report.read_text(encoding="utf-8")
  for fragment in ("India_900498_S1Hand.tif", "2016-08-12T11:50:00", "threshold 0.500",
                   f"{summary['water_km2']:,.3f}", "Limits of the model", "Real radar seen in training"):  # fmt: skip
    assert fragment in text, fragment
  item = json.loads((tmp_path / "flood.json").read_text())
  assert item["assets"]["report"]["type"] == "text/html"
  screenshot(report, tmp_path / "shot.png")
  shot = matplotlib.image.imread(tmp_path / "shot.png")[..., :3]
  red, blue = shot[..., 0], shot[..., 2]
  assert (blue > red + 0.3).mean() > 0.1  # the inline picture's water (India: 49% water)
  assert (shot.sum(axis=-1) < 0.5)[:200].mean() > 0.003  # the title's dark text
  from flood_jax.errors import UsageError

  with pytest.raises(UsageError, match="the report is an .html file"):
    flood_jax.map_scene(real_root / CHIP, tmp_path / "other.tif", report=tmp_path / "r.pdf")


def test_a_report_with_an_external_reference_is_caught(tmp_path):
  """The check above can fail: a page that fetches its picture is found out."""
  page = tmp_path / "page.html"
  page.write_text('<img src="https://example.org/a.png"><style>@import "x.css";</style>')
  assert len(external_references(page)) == 2


@pytest.fixture(scope="module")
def receding_maps(real_root, tmp_path_factory):
  """Three acquisitions of one area made from one real chip, the flood receding: the chip, then
  its water dried (VV -8 dB, VH -15 dB: above the model's cap) on the left third, then on the
  left two thirds. Named so that the names' order is not the times' order."""
  import flood_jax

  folder = tmp_path_factory.mktemp("course")
  scenes, maps = folder / "scenes", folder / "maps"
  scenes.mkdir()
  maps.mkdir()
  times = {"c_first": "2016-08-01T11:50:00Z", "a_second": "2016-08-13T11:50:00Z",
           "b_third": "2016-08-25T11:50:00Z"}  # fmt: skip
  for scene, acquired in zip(receding_scenes(real_root / CHIP, scenes, list(times)),
                             times.values(), strict=True):  # fmt: skip
    flood_jax.map_scene(scene, maps / scene.name, acquired=acquired)
  return maps, list(times)


def test_a_course_over_an_area_is_the_window_of_the_whole_course(receding_maps, tmp_path):
  """map_course(aoi=...): the course's rasters are the window of the whole course over the
  area, no data (and never counted) outside the polygon."""
  import shapely

  import flood_jax

  maps_folder, _ = receding_maps
  flood_jax.map_course(maps_folder, tmp_path / "whole", show_progress=False)
  with rasterio.open(tmp_path / "whole" / "max_extent.tif") as dataset:
    extent, transform = dataset.read(1), dataset.transform
  with rasterio.open(tmp_path / "whole" / "flood_count.tif") as dataset:
    count = dataset.read(1)
  corner, far = transform @ (100, 100), transform @ (400, 400)
  triangle = shapely.Polygon([corner, (far[0], corner[1]), (corner[0], far[1])])
  flood_jax.map_course(maps_folder, tmp_path / "area", show_progress=False, aoi=triangle)
  with rasterio.open(tmp_path / "area" / "max_extent.tif") as dataset:
    cut, cut_transform = dataset.read(1), dataset.transform
  with rasterio.open(tmp_path / "area" / "flood_count.tif") as dataset:
    cut_count, never = dataset.read(1), dataset.nodata
  assert cut.shape == (300, 300)
  assert cut_transform.almost_equals(transform @ rasterio.Affine.translation(100, 100))
  rows, cols = np.indices(cut.shape)
  inside, outside = rows + cols < 298, rows + cols > 300
  np.testing.assert_array_equal(cut[inside], extent[100:400, 100:400][inside])
  np.testing.assert_array_equal(cut_count[inside], count[100:400, 100:400][inside])
  assert (cut[outside] == 255).all() and (cut_count[outside] == never).all()


def test_a_flood_s_course_gives_union_sum_and_time_order(receding_maps, tmp_path):
  """The course of three acquisitions: the maximum extent is the union of the maps, the count
  their sum, first and last flooded the days of the first and last map with flood there, one CSV
  row per acquisition in time order, a plot and a report that Chromium renders offline."""
  import csv

  import matplotlib.image

  from flood_jax.products.flood_course import map_course

  maps_folder, order = receding_maps
  maps = []
  for name in order:
    with rasterio.open(maps_folder / f"{name}.tif") as dataset:
      maps.append(dataset.read(1))
  flood = np.stack([classes == 1 for classes in maps])
  assert flood[0].sum() > flood[1].sum() > flood[2].sum() > 0  # receding
  summary = map_course(maps_folder, tmp_path / "course", show_progress=False)
  course = tmp_path / "course"
  with rasterio.open(course / "max_extent.tif") as dataset:
    np.testing.assert_array_equal(dataset.read(1) == 1, flood.any(axis=0))
  with rasterio.open(course / "flood_count.tif") as dataset:
    np.testing.assert_array_equal(dataset.read(1), flood.sum(axis=0))
  with (
    rasterio.open(course / "first_flooded.tif") as first,
    rasterio.open(course / "last_flooded.tif") as last,
  ):
    first_days, last_days = first.read(1), last.read(1)
  days = np.array([0.0, 12.0, 24.0])
  expected_first = np.where(flood.any(0), days[np.argmax(flood, axis=0)], np.nan)
  expected_last = np.where(flood.any(0), days[2 - np.argmax(flood[::-1], axis=0)], np.nan)
  np.testing.assert_array_equal(first_days, expected_first.astype(np.float32))
  np.testing.assert_array_equal(last_days, expected_last.astype(np.float32))
  with (course / "area.csv").open() as file:
    rows = list(csv.DictReader(file))
  assert [row["map"].rsplit("/", 1)[-1] for row in rows] == [f"{name}.tif" for name in order]
  assert [float(row["days"]) for row in rows] == [0.0, 12.0, 24.0]
  km2 = [float(row["flood_km2"]) for row in rows]
  assert km2[0] > km2[1] > km2[2] > 0 and summary["max_flood_km2"] == pytest.approx(km2[0])
  assert matplotlib.image.imread(course / "area.png").shape[1] == 900
  assert external_references(course / "course.html") == []
  screenshot(course / "course.html", tmp_path / "shot.png", height=1600)
  shot = matplotlib.image.imread(tmp_path / "shot.png")[..., :3]
  assert (shot[..., 2] > shot[..., 0] + 0.3).mean() > 0.02  # the plot's and the count map's blues


def _shift(path, columns: int) -> None:
  """The map at `path` moved `columns` pixels east (its georeferencing only)."""
  with rasterio.open(path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dataset:
    dataset.transform = dataset.transform @ rasterio.Affine.translation(columns, 0)


def test_maps_on_another_grid_are_warped_onto_the_first(receding_maps, tmp_path, monkeypatch):
  """A map whose grid is 40 pixels east of the first's: warped (nearest) onto the first grid,
  it counts where it lies, and its missing strip is not seen (blocks of 100 columns here, so
  the blocks' seams are crossed)."""
  import shutil

  from flood_jax.core import windows

  monkeypatch.setattr(windows, "COLUMN_BLOCK", 100)
  from flood_jax.products.flood_course import map_course

  maps_folder, order = receding_maps
  folder = tmp_path / "maps"
  folder.mkdir()
  for name in order[:2]:
    shutil.copy(maps_folder / f"{name}.tif", folder)
  shutil.copy(maps_folder / f"{order[2]}.tif", folder / "shifted.tif")
  _shift(folder / "shifted.tif", 40)
  classes = []
  for name in (order[0], order[1], "shifted"):
    with rasterio.open(folder / f"{name}.tif") as dataset:
      classes.append(dataset.read(1))
  shifted = np.full_like(classes[2], 255)
  shifted[:, 40:] = classes[2][:, :-40]
  expected = (classes[0] == 1).astype(int) + (classes[1] == 1) + (shifted == 1)
  map_course(folder, tmp_path / "course", show_progress=False)
  with rasterio.open(tmp_path / "course" / "flood_count.tif") as dataset:
    np.testing.assert_array_equal(dataset.read(1), expected)


def test_bad_course_inputs_are_one_line_and_write_nothing(receding_maps, tmp_path):
  """Maps of different areas, a map with no acquisition time, and maps whose class 1 means
  different things (all water, flood water): one line, exit 2, nothing written."""
  import shutil

  from test_cli_errors import assert_clean_error, run

  import flood_jax

  maps_folder, order = receding_maps
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  for name in order:
    shutil.copy(maps_folder / f"{name}.tif", elsewhere)
  with rasterio.open(elsewhere / f"{order[1]}.tif", "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dataset:
    dataset.transform = dataset.transform @ rasterio.Affine.translation(400, 0)  # 0.8 chips east
  result = run("flood_jax.course", f"--maps={elsewhere}", f"--output={tmp_path / 'out1'}")
  assert result.returncode == 2
  assert_clean_error(result, f"{order[1]}.tif", "of the area of", "maps of one area")
  undated = tmp_path / "undated"
  undated.mkdir()
  shutil.copy(maps_folder / f"{order[0]}.tif", undated)
  flood_jax.map_scene(maps_folder.parent / "scenes" / f"{order[1]}.tif", undated / "no_time.tif")
  result = run("flood_jax.course", f"--maps={undated}", f"--output={tmp_path / 'out2'}")
  assert result.returncode == 2
  assert_clean_error(result, "no_time.tif", "no acquisition time", "--acquired")
  mixed = tmp_path / "mixed"
  mixed.mkdir()
  for name in order[:2]:
    shutil.copy(maps_folder / f"{name}.tif", mixed)
  with rasterio.open(mixed / f"{order[1]}.tif", "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dataset:
    dataset.update_tags(flood_jax_classes=json.dumps({"0": "dry", "1": "flood water",
                                                       "2": "permanent water", "255": "no data"}))  # fmt: skip
  result = run("flood_jax.course", f"--maps={mixed}", f"--output={tmp_path / 'out3'}")
  assert result.returncode == 2
  assert_clean_error(result, "is all water", "map every scene of a course the same way")
  assert not any((tmp_path / name).exists() for name in ("out1", "out2", "out3"))


def test_course_maps_a_list_of_scenes_first(receding_maps, tmp_path):
  """--input=SCENES: the scenes (acquisition times in their names) are mapped into
  OUTPUT/maps as predict maps a folder (serially, or on a Dask cluster with --workers), then
  followed."""
  import csv
  import shutil

  from test_cli_errors import run

  maps_folder, order = receding_maps
  scenes = tmp_path / "scenes"
  scenes.mkdir()
  for name, stamp in zip(order, ("20160801T115000", "20160813T115000", "20160825T115000"),
                         strict=True):  # fmt: skip
    shutil.copy(maps_folder.parent / "scenes" / f"{name}.tif", scenes / f"S1A_{stamp}_{name}.tif")
  serial, dask = tmp_path / "serial", tmp_path / "dask"
  for output, extra in ((serial, []), (dask, ["--workers=1"])):
    result = run("flood_jax.course", f"--input={scenes}", f"--output={output}", *extra)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list((output / "maps").glob("*_flood.tif"))) == 3
    with (output / "area.csv").open() as file:
      rows = list(csv.DictReader(file))
    assert [row["acquired"][:10] for row in rows] == ["2016-08-01", "2016-08-13", "2016-08-25"]
    assert "3 acquisitions" in result.stdout
  for name in ("max_extent.tif", "flood_count.tif"):  # the Dask run's maps give the same course
    with rasterio.open(serial / name) as one, rasterio.open(dask / name) as other:
      np.testing.assert_array_equal(one.read(1), other.read(1))


def test_a_list_of_scenes_gets_a_report_and_quicklook_beside_each_map(receding_maps, tmp_path):
  """--report=.html --quicklook=.png with a folder input: <scene>_flood.html and .png beside
  each map (a path instead of the suffix is one line: it would name one file for all)."""
  import shutil

  from test_cli_errors import assert_clean_error, run

  maps_folder, order = receding_maps
  scenes = tmp_path / "scenes"
  scenes.mkdir()
  for name in order[:2]:
    shutil.copy(maps_folder.parent / "scenes" / f"{name}.tif", scenes)
  out = tmp_path / "out"
  result = run("flood_jax.predict", f"--input={scenes}", f"--output={out}", "--report=.html",
               "--quicklook=.png")  # fmt: skip
  assert result.returncode == 0, result.stderr[-2000:]
  for name in order[:2]:
    assert (out / f"{name}_flood.png").stat().st_size > 10_000
    assert external_references(out / f"{name}_flood.html") == []
    assert f"{name}.tif" in (out / f"{name}_flood.html").read_text(encoding="utf-8")
    item = json.loads((out / f"{name}_flood.json").read_text())
    assert item["assets"]["report"]["href"] == f"{name}_flood.html"
  result = run("flood_jax.predict", f"--input={scenes}", f"--output={tmp_path / 'x'}",
               "--report=all.html")  # fmt: skip
  assert result.returncode == 2
  assert_clean_error(result, "--report=all.html", "give the suffix alone")


def test_a_course_counts_each_acquisition_once_and_reads_every_map(receding_maps, tmp_path):
  """One file given twice, or two maps of one acquisition time, made "4 acquisitions" of 3
  dates; a truncated map was a traceback leaving an empty output folder; scenes given as maps
  said "no acquisition time". Each is one line naming the files, exit 2, no output folder."""
  import shutil

  from test_cli_errors import assert_clean_error, run

  import flood_jax
  from flood_jax.errors import DataError, UsageError

  maps_folder, order = receding_maps
  maps = [maps_folder / f"{name}.tif" for name in order]
  with pytest.raises(UsageError, match=f"{order[0]}.tif: is given twice"):
    flood_jax.map_course([*maps, maps[0]], tmp_path / "twice")
  same_time = tmp_path / "same_time"
  same_time.mkdir()
  for path in maps:
    shutil.copy(path, same_time)
  shutil.copy(maps[0], same_time / "copy_of_first.tif")
  result = run("flood_jax.course", f"--maps={same_time}", f"--output={tmp_path / 'out'}")
  assert result.returncode == 2
  assert_clean_error(
    result, "has the time of", "2016-08-01T11:50:00", "counts each acquisition once"
  )
  truncated = tmp_path / "truncated.tif"
  truncated.write_bytes(maps[1].read_bytes()[: maps[1].stat().st_size // 2])
  with pytest.raises(
    DataError, match="truncated.tif: cannot read its pixels, the file may be truncated"
  ):
    flood_jax.map_course([maps[0], truncated, maps[2]], tmp_path / "cut")
  with pytest.raises(DataError, match="missing.tif: not a raster GDAL can read"):
    flood_jax.map_course([maps[0], tmp_path / "missing.tif"], tmp_path / "gone")
  scene = maps_folder.parent / "scenes" / f"{order[0]}.tif"
  with pytest.raises(UsageError, match="not a flood map written by flood_jax.predict"):
    flood_jax.map_course([scene, maps[1]], tmp_path / "scenes")
  assert not any((tmp_path / name).exists() for name in ("twice", "out", "cut", "gone", "scenes"))


def test_a_layer_covering_part_of_the_scene_makes_its_figures_partial(real_root, tmp_path):
  """A population raster over 42% of the scene reported "4,969 people in water" as if complete;
  a 2-band dB scene given as --population gave "0 people". Each layer's file and share of the
  scene are in the tags, STAC Item, report, printed line and summary.csv, and the figures it
  feeds say "partial"; a population raster is one band of counts."""
  from test_cli_errors import assert_clean_error, run

  chip = real_root / CHIP
  grid = _grid(chip)
  people = tmp_path / "people.tif"
  west, south, east, north = grid.bounds()
  cell = (east - west) / 10
  with rasterio.open(people, "w", driver="GTiff", height=10, width=4, count=1, dtype="float32",
                     crs=grid.crs, transform=from_origin(west, north, cell, (north - south) / 10)) as out:  # fmt: skip
    out.write(np.full((1, 10, 4), 500.0, np.float32))  # the western 40% of the chip
  result = run("flood_jax.predict", f"--input={chip}", f"--output={tmp_path / 'flood.tif'}",
               f"--population={people}", f"--report={tmp_path / 'flood.html'}")  # fmt: skip
  assert result.returncode == 0, result.stderr[-2000:]
  line = result.stdout.strip().splitlines()[-1]
  assert "people in water (partial: the population raster covers 40% of the scene)" in line, line
  with rasterio.open(tmp_path / "flood.tif") as dataset:
    tags = dataset.tags()
  assert tags["flood_jax_population"] == str(people)
  assert float(tags["flood_jax_population_coverage"]) == pytest.approx(0.4, abs=0.01)
  properties = json.loads((tmp_path / "flood.json").read_text())["properties"]
  assert properties["flood_jax:layers"] == {"population": "people.tif"}
  assert properties["flood_jax:population_coverage"] == pytest.approx(0.4, abs=0.01)
  assert (
    "(partial: the population raster covers 40% of the scene)"
    in (tmp_path / "flood.html").read_text()
  )
  scene_db = tmp_path / "scene_as_people.tif"
  scene_db.write_bytes(chip.read_bytes())
  result = run("flood_jax.predict", f"--input={chip}", f"--output={tmp_path / 'x.tif'}",
               f"--population={scene_db}")  # fmt: skip
  assert result.returncode == 2
  assert_clean_error(result, "scene_as_people.tif: a population raster is one band", "2 bands")
  assert not (tmp_path / "x.tif").exists()


def test_the_report_holds_at_800_px_names_files_and_renders_code(real_root, tmp_path):
  """At 800 px the inputs table pushed columns off screen, it showed the user's absolute local
  paths, and the card's `code` showed its backticks; a Chinese file name was drawn as boxes in
  the quicklook."""
  import re
  import shutil
  import subprocess
  import warnings

  import flood_jax
  from flood_jax.core.figures import drawable

  folder = tmp_path / "a very long folder name that a responder's machine happens to have" / "洪水"
  folder.mkdir(parents=True)
  scene = folder / "洪水_India_900498_S1Hand.tif"
  shutil.copy(real_root / CHIP, scene)
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # a missing glyph is a warning of matplotlib's
    flood_jax.map_scene(scene, tmp_path / "flood.tif", report=tmp_path / "flood.html",
                        quicklook=tmp_path / "flood.png")  # fmt: skip
  page = (tmp_path / "flood.html").read_text()
  assert scene.name in page and str(folder) not in page  # the name, not the path
  assert "`" not in page and "<code>" in page
  assert drawable("洪水.tif") in ("洪水.tif", "\\u6d2a\\u6c34.tif")
  chromium = _chromium()
  measured = tmp_path / "measured.html"
  measured.write_text(page.replace("</body>", "<script>document.title = "
                                   "document.documentElement.scrollWidth;</script></body>"))  # fmt: skip
  dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=800,3000",
                        "--dump-dom", measured.as_uri()], capture_output=True, text=True, timeout=120)  # fmt: skip
  width = int(re.search(r"<title>(\d+)</title>", dom.stdout).group(1))
  assert width <= 800, width
