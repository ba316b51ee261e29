"""Sentinel-1 GRD products as downloaded: calibrated with their LUTs, cleared of thermal noise,
geocoded onto a 10 m UTM grid, and refused in one line where they are not VV+VH GRD products.
The products are written to the product specification (`benchmarks/grd_product.py`) and read by
GDAL's SAFE driver."""

import datetime as dt
import math
import re
import warnings
import zipfile

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.warp import Resampling, reproject

import flood_jax
from benchmarks.grd_product import write_grd
from flood_jax.errors import DataError, UsageError
from flood_jax.scenes import grd
from flood_jax.scenes.readers import open_scene
from flood_jax.scenes.sources import resolve_input

CHIP = "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"


def chip_product(chip, folder, zipped=True):
  """A GRD product whose measurement is the chip's sigma0 through the inverse of the product's
  LUTs, seen from an ascending pass (east on the left: the product's pixels run westward), its
  geolocation grid the chip's pixel centres."""
  with rasterio.open(chip) as dataset:
    sigma0 = 10 ** (dataset.read().astype(np.float64) / 10)
    transform = dataset.transform
  flipped = sigma0[:, :, ::-1]
  width = flipped.shape[2]

  def rows_of(line0, count):
    return flipped[0, line0 : line0 + count], flipped[1, line0 : line0 + count]

  def lonlat(lines, pixels):
    return transform @ (width - 1 - pixels + 0.5, lines + 0.5)

  return write_grd(folder, flipped.shape[1:], rows_of, lonlat, zipped=zipped)


@pytest.fixture(scope="module")
def model():
  return flood_jax.load_model()


def test_a_grd_made_from_a_real_chip_maps_the_chip_s_water(real_root, model, tmp_path):
  """The India chip as a zipped IW GRD product: GDAL's SAFE driver reads it (two bands named VV
  and VH, the geolocation grid as GCPs); mapped as downloaded it lands in UTM zone 46N at 10 m,
  its acquisition time from the manifest, and its classes are the chip's own map's (on the
  GRD map's grid) on at least 98% of pixels."""
  product = chip_product(real_root / CHIP, tmp_path)
  safe = f"/vsizip/{product}/{product.stem}.SAFE/manifest.safe"
  with rasterio.open(safe) as dataset:
    assert dataset.driver == "SAFE" and dataset.count == 2
    assert [dataset.tags(band)["POLARIZATION"] for band in (1, 2)] == ["VV", "VH"]
    assert len(dataset.gcps[0]) == 210
  summary = flood_jax.map_scene(product, tmp_path / "grd.tif", model=model)
  assert summary.acquired.startswith("2024-03-12T05:22:15") and "GRD" in summary.scale_reason
  flood_jax.map_scene(real_root / CHIP, tmp_path / "chip.tif", model=model)
  with rasterio.open(tmp_path / "grd.tif") as mapped, rasterio.open(tmp_path / "chip.tif") as chip:
    assert mapped.crs.to_epsg() == 32646 and mapped.res == (10.0, 10.0)
    classes = mapped.read(1)
    expected = np.full(classes.shape, 255, np.uint8)
    reproject(chip.read(1), expected, src_transform=chip.transform, src_crs=chip.crs,
              dst_transform=mapped.transform, dst_crs=mapped.crs, resampling=Resampling.nearest,
              src_nodata=255, dst_nodata=255)  # fmt: skip
  both = (classes != 255) & (expected != 255)
  assert both.sum() > 0.85 * classes.size
  assert (classes[both] == expected[both]).mean() >= 0.98, (classes[both] == expected[both]).mean()
  assert 0.3 < (classes[both] == 1).mean() < 0.7  # water and land both


@pytest.mark.parametrize("mode", ["IW", "EW"])
def test_calibration_and_noise_removal_give_back_the_sigma0_written(tmp_path, mode):
  """A product of known sigma0 (land -8/-15 dB, water -20/-27 dB, a border of DN 0) on a grid
  aligned with the UTM pixels: read back within 0.1 dB (VV) and 0.6 dB (VH, the noise floor's
  rounding), the border as no data; without the noise LUTs VH water would read more than 2 dB
  too bright."""
  lines, samples = 120, 300
  vv = np.where(np.arange(samples) < 150, 10**-0.8, 10**-2.0)[None].repeat(lines, 0)
  vv[:, :6] = np.nan  # the product's border: DN 0
  vh = vv * 10**-0.7
  to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)

  def lonlat(line, pixel):
    return to_lonlat.transform(500_000 + 10 * pixel + 5, 4_000_000 - 10 * line - 5)

  product = write_grd(tmp_path, (lines, samples), lambda first, count: (vv[first : first + count],
                      vh[first : first + count]), lonlat, mode=mode)  # fmt: skip
  reader = open_scene(resolve_input(str(product)))
  try:
    assert reader.grid.crs.to_epsg() == 32633 and reader.grid.transform.c == 500_000
    values = reader.read_window(0, lines, 0, samples)
  finally:
    reader.close()
  assert np.isnan(values[:, :5]).all()  # the border's DN 0 is no data
  expected = 10 * np.log10(np.stack([vv, vh], axis=-1))
  inner = np.s_[2:-2, 8:-2]
  error = np.abs(values - expected)[inner]
  assert np.nanmax(error[..., 0]) < 0.1 and np.nanmean(error[..., 1]) < 0.25
  assert np.nanpercentile(error[..., 1], 99) < 0.6
  product_reader = grd.Product(str(product))
  radiometry = product_reader.radiometry("VH")
  measurement = product_reader.files("VH")["measurement"]
  with warnings.catch_warnings():  # the measurement alone has no georeferencing
    warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
    with rasterio.open(f"{product}/{measurement}") as dataset:
      dn = dataset.read(1).astype(np.float64)
  product_reader.close()
  gain = radiometry.calibration.at(np.arange(lines, dtype=float), np.arange(samples, dtype=float))
  noisy = 10 * np.log10(np.maximum(dn, 1) ** 2 / gain**2)  # the border's DN 0 left out below
  assert np.mean(noisy[:, 160:] - expected[:, 160:, 1]) > 2.0


def test_an_area_of_a_grd_calibrates_and_warps_only_its_part(tmp_path, model, monkeypatch):
  """--aoi on a 1,200 x 1,600 px product: the DN read stay within the area's window and half a
  model window around it."""
  lines, samples = 1200, 1600
  rng = np.random.default_rng(0)
  to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)

  def rows_of(first, count):
    land = 10 ** (rng.normal(-9, 1.5, (count, samples)) / 10)
    return land, land * 10**-0.7

  def lonlat(line, pixel):  # a descending pass with a 12 degree heading
    angle = math.radians(12)
    x = 500_000 + 10 * (pixel * math.cos(angle) + line * math.sin(angle))
    y = 4_000_000 - 10 * (line * math.cos(angle) - pixel * math.sin(angle))
    return to_lonlat.transform(x, y)

  product = write_grd(tmp_path, (lines, samples), rows_of, lonlat)
  reads = []
  sigma0 = grd.Radiometry.sigma0

  def recorded(self, dn, line0, pixel0):
    reads.append((line0, pixel0, *dn.shape))
    return sigma0(self, dn, line0, pixel0)

  monkeypatch.setattr(grd.Radiometry, "sigma0", recorded)
  west, south = to_lonlat.transform(500_000 + 7000, 4_000_000 - 7000)
  east, north = to_lonlat.transform(500_000 + 9000, 4_000_000 - 5000)
  summary = flood_jax.map_scene(product, tmp_path / "area.tif", model=model,
                                aoi=(west, south, east, north))  # fmt: skip
  assert all(200 <= side <= 205 for side in summary.window[2:])  # a box in degrees, in UTM
  assert reads
  # The area's window, 256 px around it and the swath's 12 degree turn: not the product's
  # 1,200 lines and 1,600 pixels.
  lines_read = max(line0 + rows for line0, _, rows, _ in reads) - min(line0 for line0, *_ in reads)
  pixels_read = max(pixel0 + cols for _, pixel0, _, cols in reads) - min(p for _, p, *_ in reads)
  assert lines_read < 900 and pixels_read < 900, (lines_read, pixels_read)


def _renamed(product, name: str):
  """The product's zip under another product name (its .SAFE folder renamed inside)."""
  old = product.stem
  target = product.with_name(f"{name}.zip")
  with zipfile.ZipFile(product) as source, zipfile.ZipFile(target, "w") as output:
    for entry in source.infolist():
      output.writestr(entry.filename.replace(old, name), source.read(entry.filename))
  return target


def test_products_the_model_cannot_map_are_one_line(tmp_path):
  """HH/HV and VV-only products, SLC and OCN products, a truncated zip and a product without its
  calibration file: one line naming the product and what is wrong (exit 2 from the command
  line, nothing written)."""
  from test_cli_errors import run

  start = dt.datetime(2024, 3, 12, 5, 22, 15)
  to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)

  def lonlat(line, pixel):
    return to_lonlat.transform(500_000 + 10 * pixel, 4_000_000 - 10 * line)

  def rows_of(first, count):
    return np.full((count, 40), 0.1), np.full((count, 40), 0.02)

  good = write_grd(tmp_path, (30, 40), rows_of, lonlat, start=start, zipped=True)
  stamp = "20240312T052215_20240312T052216_012345_0ABCDE_1A2B"
  cases = {
    "HH/HV product (1SDH)": write_grd(tmp_path / "dh", (30, 40), rows_of, lonlat, pols="DH"),
    "single-polarisation product (1SSV)": write_grd(
      tmp_path / "sv", (30, 40), rows_of, lonlat, pols="SV"
    ),  # fmt: skip
    "a Sentinel-1 SLC product": _renamed(good, f"S1A_IW_SLC__1SDV_{stamp}"),
    "a Sentinel-1 OCN product": _renamed(good, f"S1A_IW_OCN__2SDV_{stamp}"),
  }
  for expected, product in cases.items():
    with pytest.raises(DataError, match=re.escape(expected)):
      resolve_input(str(product))
  truncated = tmp_path / "cut" / good.name
  truncated.parent.mkdir()
  truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
  with pytest.raises(DataError, match="not a readable zip file"):
    resolve_input(str(truncated))
  folder = write_grd(tmp_path / "nocal", (30, 40), rows_of, lonlat)
  for calibration in folder.glob("annotation/calibration/calibration-*-vh-*.xml"):
    calibration.unlink()
  with pytest.raises(DataError, match=r"calibration-s1a-iw-grd-vh-.*\.xml is missing"):
    resolve_input(str(folder))
  with pytest.raises(UsageError, match="a GRD product is calibrated to sigma0 here"):
    resolve_input(str(good), scale="db")
  result = run("flood_jax.predict", f"--input={cases['HH/HV product (1SDH)']}",
               f"--output={tmp_path / 'out.tif'}")  # fmt: skip
  assert result.returncode == 2 and "HH/HV product (1SDH)" in result.stderr, result.stderr[-2000:]
  assert "Traceback" not in result.stderr and not list(tmp_path.glob("out*"))


def test_a_dem_puts_a_plateau_s_lake_back_on_its_ground(tmp_path, model):
  """A lake on a 300 m plateau seen at 35° incidence lies 300 / tan(35°) / 10 m ≈ 43 px nearer in
  range in the product: geocoded on the ellipsoid it is mapped that far from its ground; with
  `dem=` (a raster in degrees) it is mapped where it is, and a DEM for a raster scene is refused."""
  lines, samples, shift = 400, 600, round(300 / math.tan(math.radians(35)) / 10)
  truth = np.zeros((lines, samples), bool)
  truth[100:300, 300:400] = True
  ground_vv = np.where(truth, 10**-2.2, 10**-0.9)
  seen = np.full_like(ground_vv, 10**-0.9)
  seen[:, : samples - shift] = ground_vv[:, shift:]  # pixel p shows the ground at p + shift
  to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)

  def lonlat(line, pixel):
    return to_lonlat.transform(500_000 + 10 * pixel + 5, 4_000_000 - 10 * line - 5)

  product = write_grd(tmp_path, (lines, samples), lambda first, count: (seen[first : first + count],
                      seen[first : first + count] * 10**-0.7), lonlat)  # fmt: skip
  west, south = to_lonlat.transform(499_000, 3_995_000)
  east, north = to_lonlat.transform(507_000, 4_001_000)
  dem = tmp_path / "heights.tif"
  with rasterio.open(dem, "w", driver="GTiff", height=40, width=60, count=1, dtype="float32",
                     crs="EPSG:4326", transform=rasterio.transform.from_bounds(west, south, east,
                     north, 60, 40)) as dataset:  # fmt: skip
    dataset.write(np.full((1, 40, 60), 300.0, np.float32))
  iou = {}
  for name, extra in (("ellipsoid", {}), ("dem", {"dem": str(dem)})):
    flood_jax.map_scene(product, tmp_path / f"{name}.tif", model=model, **extra)
    with rasterio.open(tmp_path / f"{name}.tif") as dataset:
      water = dataset.read(1)[:lines, :samples] == 1
    iou[name] = (water & truth).sum() / (water | truth).sum()
  assert iou["dem"] > 0.85 and iou["ellipsoid"] < 0.6, iou
  raster = tmp_path / "raster.tif"
  with rasterio.open(raster, "w", driver="GTiff", height=64, width=64, count=2, dtype="float32",
                     crs="EPSG:32633", transform=rasterio.transform.from_origin(500_000, 4_000_000,
                     10, 10)) as dataset:  # fmt: skip
    dataset.write(np.stack([np.full((64, 64), -9.0), np.full((64, 64), -16.0)]).astype(np.float32))
  with pytest.raises(UsageError, match="terrain correction is for GRD products"):
    flood_jax.map_scene(raster, tmp_path / "x.tif", model=model, dem=str(dem))
