"""An area of interest (`--aoi`, `--bbox`, `aoi=`): only the scene's window over it is read and
mapped, the map there is the whole scene's, and outside the polygons is no data."""

import csv
import json

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from rasterio.warp import transform_geom

import flood_jax
from flood_jax.errors import DataError, UsageError
from flood_jax.scenes import scene as scene_module
from flood_jax.scenes.area import load_area, parse_bbox

CHIP = "data/flood_events/HandLabeled/S1Hand/Pakistan_849790_S1Hand.tif"  # the most water


@pytest.fixture(scope="module")
def model():
  return flood_jax.load_model()


@pytest.fixture(scope="module")
def whole(real_root, model, tmp_path_factory):
  """The chip's map, its transform and size."""
  path = tmp_path_factory.mktemp("whole") / "whole.tif"
  flood_jax.map_scene(real_root / CHIP, path, model=model)
  with rasterio.open(path) as dataset:
    return dataset.read(1), dataset.transform


def write_polygons(path, polygons, crs: str, source_crs) -> None:
  """Polygons given in `source_crs`, written in `crs` (a vector file of another CRS)."""
  shapes = [shapely.geometry.shape(transform_geom(source_crs, crs, shapely.geometry.mapping(polygon)))
            for polygon in polygons]  # fmt: skip
  pyogrio.raw.write(path, shapely.to_wkb(shapes), [], [], crs=crs, geometry_type="Polygon")


def test_a_quarter_of_a_real_chip_is_that_window_of_the_chip_s_map(
  real_root, model, whole, tmp_path
):
  """A GeoPackage in Web Mercator over the chip's lower-right quarter (the chip is in degrees):
  the map is that 256 x 256 window, its transform the window's, and its classes the whole chip's
  on at least 99% of pixels; a triangle over the same window maps no data outside it."""
  classes, transform = whole
  corner = transform @ (256, 256)
  far = transform @ (512, 512)
  quarter = shapely.box(corner[0], far[1], far[0], corner[1])
  triangle = shapely.Polygon([(corner[0], corner[1]), (far[0], corner[1]), (corner[0], far[1])])
  areas = {"quarter.gpkg": quarter, "triangle.geojson": triangle}
  for name, polygon in areas.items():
    write_polygons(tmp_path / name, [polygon], "EPSG:3857", "EPSG:4326")
  summary = flood_jax.map_scene(real_root / CHIP, tmp_path / "q.tif", model=model,
                                aoi=tmp_path / "quarter.gpkg")  # fmt: skip
  assert summary.window == (256, 256, 256, 256) and summary.area.endswith("quarter.gpkg")
  with rasterio.open(tmp_path / "q.tif") as dataset:
    mapped = dataset.read(1)
    assert dataset.transform.almost_equals(transform @ rasterio.Affine.translation(256, 256))
  expected = classes[256:, 256:]
  assert (mapped == expected).mean() >= 0.99, (mapped == expected).mean()
  assert 0.2 < (mapped == 1).mean() < 0.9  # water and dry land both

  summary = flood_jax.map_scene(real_root / CHIP, tmp_path / "t.tif", model=model,
                                aoi=str(tmp_path / "triangle.geojson"), vectors=tmp_path / "t.geojson",
                                report=tmp_path / "t.html")  # fmt: skip
  with rasterio.open(tmp_path / "t.tif") as dataset:
    cut = dataset.read(1)
  rows, cols = np.indices(cut.shape)
  outside = rows + cols > 256  # pixel centres beyond the triangle's hypotenuse
  assert (cut[outside] == 255).all()
  inside = rows + cols < 254
  assert (cut[inside] == expected[inside]).mean() >= 0.99
  # What the outputs describe is the area: the Item's box is the window's, the polygons lie in
  # the triangle, the valid pixels are the triangle's, and the report names the area.
  box = shapely.box(*json.loads((tmp_path / "t.json").read_text())["bbox"])
  assert box.buffer(1e-6).contains(triangle) and box.area < 1.01 * quarter.area
  polygons = json.loads((tmp_path / "t.geojson").read_text())["features"]
  assert polygons and all(triangle.buffer(1e-4).contains(shapely.geometry.shape(p["geometry"]))
                          for p in polygons)  # fmt: skip
  assert summary.valid_pixels == (cut != 255).sum() < 0.51 * cut.size
  assert "triangle.geojson" in (tmp_path / "t.html").read_text()


def test_an_area_reads_only_its_window_and_half_a_model_window_around_it(
  model, tmp_path, monkeypatch
):
  """A 200 x 200 px box in a 2,000 x 2,000 scene: every read stays within the box and 256 px
  (half the model's 512-px window) around it, and the areas count the box alone."""
  height = width = 2000
  rng = np.random.default_rng(0)
  vv = rng.normal(-10, 1.5, (height, width)).astype(np.float32)
  vv[900:1100, 800:1300] = -22  # a lake through the box
  path = tmp_path / "scene.tif"
  with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=2,
                     dtype="float32", crs="EPSG:32633", tiled=True,
                     transform=from_origin(500_000, 4_000_000, 10, 10)) as dataset:  # fmt: skip
    dataset.write(np.stack([vv, vv - 7]))
  reads = []
  read = scene_module.SceneReader.read_window

  def recorded(self, top, rows, left=0, cols=None):
    reads.append((top, rows, left, cols))
    return read(self, top, rows, left, cols)

  monkeypatch.setattr(scene_module.SceneReader, "read_window", recorded)
  box = shapely.box(510_000, 3_988_000, 512_000, 3_990_000)  # rows and cols 1000 to 1200
  geometry = transform_geom("EPSG:32633", "EPSG:4326", shapely.geometry.mapping(box))
  summary = flood_jax.map_scene(path, tmp_path / "map.tif", model=model, aoi=geometry)
  assert summary.window == (1000, 1000, 200, 200)
  assert all(744 <= top and top + rows <= 1456 and 744 <= left and left + cols <= 1456
             for top, rows, left, cols in reads)  # fmt: skip
  with rasterio.open(tmp_path / "map.tif") as dataset:
    mapped = dataset.read(1)
  assert mapped.shape == (200, 200)
  assert (mapped[:100, :] == 255).sum() < 400  # the polygon (a box in degrees) fills the window
  lake = mapped[5:95, 5:195]  # rows 1005-1095 of the lake
  assert (lake == 1).mean() > 0.95 and (mapped[110:190, 5:195] == 0).mean() > 0.95
  assert summary.valid_pixels > 0.98 * 200 * 200


def test_an_area_that_misses_the_scene_writes_nothing(real_root, model, tmp_path):
  with pytest.raises(DataError, match=r"bbox 10,10,11,11: the area of interest misses the scene"):
    flood_jax.map_scene(real_root / CHIP, tmp_path / "map.tif", model=model, aoi=(10, 10, 11, 11))
  assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
  ("area", "message"),
  [
    ("1,2,3", "expected four numbers"),
    ("10,5,9,6", "W < E and S < N"),
    ("10,5,11,95", "latitude within"),
  ],
)
def test_a_bad_bbox_is_one_line(area, message):
  with pytest.raises(UsageError, match=message):
    parse_bbox(area)


def test_an_area_file_must_be_georeferenced_polygons(tmp_path):
  points = tmp_path / "points.geojson"
  pyogrio.raw.write(points, shapely.to_wkb([shapely.Point(1, 2)]), [], [], crs="EPSG:4326",
                    geometry_type="Point")  # fmt: skip
  with pytest.raises(
    DataError, match="points.geojson: holds Point; an area of interest is polygons"
  ):
    load_area(points)
  (tmp_path / "junk.gpkg").write_text("not a GeoPackage")
  with pytest.raises(DataError, match="junk.gpkg: not a vector file"):
    load_area(tmp_path / "junk.gpkg")
  with pytest.raises(UsageError, match="no such file"):
    load_area(str(tmp_path / "missing.geojson"))


def test_the_command_line_maps_lists_over_an_area_and_refuses_bad_ones(real_root, tmp_path):
  """--bbox over a list of two chips, one outside it: the other is mapped over the area and the
  first is the list's failed row naming both (exit 1); --aoi with --bbox, or a bbox that misses a
  single scene: one line, exit 2, nothing written."""
  from test_cli_errors import run

  chips = [
    real_root / CHIP,
    real_root / "data/flood_events/HandLabeled/S1Hand/Ghana_53713_S1Hand.tif",
  ]
  with rasterio.open(chips[0]) as dataset:
    west, north = dataset.transform @ (100, 100)
    east, south = dataset.transform @ (300, 300)
  listing = tmp_path / "chips.txt"
  listing.write_text("\n".join(map(str, chips)))
  bbox = f"--bbox={west},{south},{east},{north}"
  result = run("flood_jax.predict", f"--input={listing}", f"--output={tmp_path / 'maps'}", bbox)
  assert result.returncode == 1, result.stderr[-2000:]
  with (tmp_path / "maps" / "summary.csv").open() as file:
    rows = {row["scene"]: row for row in csv.DictReader(file)}
  assert rows["Pakistan_849790_S1Hand"]["status"] == "done"
  assert rows["Pakistan_849790_S1Hand"]["area"].startswith("bbox ")
  ghana = rows["Ghana_53713_S1Hand"]
  assert ghana["status"] == "failed" and "misses the scene Ghana_53713_S1Hand" in ghana["error"]
  with rasterio.open(tmp_path / "maps" / "Pakistan_849790_S1Hand_flood.tif") as dataset:
    assert dataset.shape == (200, 200)

  for arguments, message in (
    ([f"--input={chips[1]}", bbox], "misses the scene Ghana_53713_S1Hand"),
    ([f"--input={chips[0]}", bbox, f"--aoi={listing}"], "not both"),
  ):
    result = run("flood_jax.predict", *arguments, f"--output={tmp_path / 'single.tif'}")
    assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not list(tmp_path.glob("single*"))


def test_change_detection_over_an_area_steps_the_pre_event_scene_with_it(
  real_root, model, whole, tmp_path
):
  """The pre-event scene is cut to the same window and context: the chip compared with a copy
  of itself over the lower-right quarter is permanent water where the chip's map has water,
  and no flood."""
  import shutil

  before = tmp_path / "before.tif"
  shutil.copy(real_root / CHIP, before)
  classes, transform = whole
  west, north = transform @ (256, 256)
  east, south = transform @ (512, 512)
  flood_jax.map_scene(real_root / CHIP, tmp_path / "change.tif", model=model, pre_event=str(before),
                      aoi=(west, south, east, north))  # fmt: skip
  with rasterio.open(tmp_path / "change.tif") as dataset:
    change = dataset.read(1)
  assert change.shape == (256, 256) and not (change == 1).any()
  assert ((change == 2) == (classes[256:, 256:] == 1)).mean() >= 0.99


def test_the_quicklook_over_an_area_shows_the_area_s_radar_image(real_root, model, tmp_path,
                                                                  monkeypatch):  # fmt: skip
  """The picture's radar image is read through the map's reader: over the chip's lower-right
  quarter it is that quarter's VV (it was the whole chip's, squeezed into the area's picture)."""
  from flood_jax.products import quicklook

  drawn = []
  picture = quicklook.backscatter_picture

  def kept(*arguments):
    drawn.append(picture(*arguments))
    return drawn[-1]

  monkeypatch.setattr(quicklook, "backscatter_picture", kept)
  with rasterio.open(real_root / CHIP) as dataset:
    vv, transform = dataset.read(1), dataset.transform
  west, north = transform @ (256, 256)
  east, south = transform @ (512, 512)
  flood_jax.map_scene(real_root / CHIP, tmp_path / "q.tif", model=model,
                      aoi=(west, south, east, north), quicklook=tmp_path / "q.png")  # fmt: skip
  (image,) = drawn
  assert image.shape == (256, 256)
  np.testing.assert_allclose(image, vv[256:, 256:], atol=1e-4)
