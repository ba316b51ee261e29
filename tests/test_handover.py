"""What a responder hands on: people in flood water, the flood report in a real browser, and a
flood's course over several acquisitions."""

import json

import numpy as np
import pyogrio
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform, transform_bounds

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
      xs, ys = grid.transform * (cols + dx, rows + dy)
      xs, ys = (np.asarray(values) for values in transform(grid.crs, crs, xs, ys))
      cell_rows, cell_cols = ((y0 - ys) // cell).astype(int), ((xs - x0) // cell).astype(int)
      people += float((counts[cell_rows, cell_cols] * areas[rows] / sub**2 / cell**2).sum())
  return people


def test_people_in_flood_water_match_a_hand_count_on_a_coarser_grid_in_another_crs(
  real_root, tmp_path
):
  """A real chip (EPSG:4326, ~10 m) and people on 90 m UTM cells: the summary, the STAC Item
  and the polygons count the people in water within 1% of a hand count."""
  import flood_jax

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
  import shutil

  found = shutil.which("chromium") or shutil.which("chromium-browser")
  if not found:
    if os.environ.get("CI"):
      pytest.fail("CI needs Debian's chromium for the browser tests (apt-get install chromium)")
    pytest.skip("headless Chromium not installed (apt-get install chromium)")
  return found


def screenshot(page, png, height=2200):
  """`page` rendered by headless Chromium with every network request sent nowhere."""
  import subprocess

  subprocess.run(
    [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
     "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
     f"--window-size=1280,{height}", f"--screenshot={png}", page.resolve().as_uri()],
    check=True, capture_output=True, timeout=120,
  )  # fmt: skip


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
  for fragment in ("India_900498_S1Hand.tif", "2016-08-12T11:50:00", "threshold 0.950",
                   f"{summary['water_km2']:,.3f}", "Limits of the model", "Synthetic training"):  # fmt: skip
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
