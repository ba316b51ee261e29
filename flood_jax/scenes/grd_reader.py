"""A Sentinel-1 GRD product's sigma0 (`scenes.grd`) on a 10 m grid in the local UTM zone, window
by window: each grid pixel's (line, pixel) in the product comes from the annotation's geolocation
grid (a cubic interpolant of the GCPs' UTM positions, evaluated every `COARSE` pixels and linearly
between), and sigma0 is sampled bilinearly there; DN 0 (the product's border) and places the
product does not cover are no data. Memory: one window of the product and of the grid. The
geolocation grid is on the ellipsoid (no terrain): within a pixel or two in the flat land floods
lie in, more on slopes.
"""

from __future__ import annotations

import json
import math

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window

from flood_jax.errors import DataError
from flood_jax.scenes.grd import ItemProduct, Product, geolocation, range_pixel_spacing, utm_crs
from flood_jax.scenes.layers import WarpedLayer
from flood_jax.scenes.scene import Grid

PIXEL_SIZE_M = 10.0
COARSE = 16  # grid pixels between evaluations of the geolocation interpolant


def product_grid(
  lon: np.ndarray, lat: np.ndarray, pixel_size: float = PIXEL_SIZE_M
) -> tuple[Grid, np.ndarray]:
  """The 10 m UTM grid over the geolocation grid's points, and the points' (x, y) in it."""
  from pyproj import Transformer

  crs = utm_crs(float(np.median(lon)), float(np.median(lat)))
  xs, ys = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
  west = math.floor(xs.min() / pixel_size) * pixel_size
  north = math.ceil(ys.max() / pixel_size) * pixel_size
  width = math.ceil((xs.max() - west) / pixel_size) + 1
  height = math.ceil((north - ys.min()) / pixel_size) + 1
  transform = Affine(pixel_size, 0.0, west, 0.0, -pixel_size, north)
  return Grid(rasterio.crs.CRS.from_string(crs), transform, height, width), np.c_[xs, ys]


def _linear_weights(nodes: np.ndarray, positions: np.ndarray) -> np.ndarray:
  """float64 [len(positions), len(nodes)]: linear interpolation between sorted `nodes` as a
  matrix (two weights a row)."""
  weights = np.zeros((len(positions), len(nodes)))
  if len(nodes) == 1:
    weights[:, 0] = 1.0
    return weights
  index = np.clip(np.searchsorted(nodes, positions, side="right") - 1, 0, len(nodes) - 2)
  fraction = (positions - nodes[index]) / (nodes[index + 1] - nodes[index])
  rows = np.arange(len(positions))
  weights[rows, index] = 1.0 - fraction
  weights[rows, index + 1] = fraction
  return weights


class GrdReader:
  """A GRD product's VV and VH in dB on a 10 m UTM grid, window by window (the module's doc);
  the interface of `scene.SceneReader`."""

  def __init__(self, scene, dem: str | None = None):
    from scipy.interpolate import CloughTocher2DInterpolator

    self.scene, self.dem = scene, None
    self.product = ItemProduct(json.loads(scene.item)) if scene.item else Product(scene.product)
    try:
      self.measurements = self.product.open_measurements()
      self.shape = self.measurements[0][0].shape
      self.radiometry = [self.product.radiometry(pol) for pol in ("VV", "VH")]
      annotation = self.product.annotation()
      points = geolocation(annotation, self.product.path)
      if len(points) < 4:
        raise DataError(
          f"{self.product.path}: the annotation's geolocation grid has {len(points)} points"
        )
      self.grid, where = product_grid(points[:, 2], points[:, 3])
      # (line, pixel, height, incidence angle) of ground places on the ellipsoid.
      radar = points[:, [0, 1, 4, 5]]
      self._radar_of = CloughTocher2DInterpolator(where, radar)
      # Beyond the points' hull (the grid's rim, the corners outside the swath): the affine fit.
      design = np.c_[where, np.ones(len(where))]
      self._affine = np.linalg.lstsq(design, radar, rcond=None)[0]
      self.spacing = range_pixel_spacing(annotation)
      if dem:
        self.dem = WarpedLayer(dem, self.grid, "DEM", Resampling.bilinear, scene.name)
    except BaseException:
      self.close()
      raise

  def radar_coordinates(self, top: int, rows: int, left: int, cols: int) -> np.ndarray:
    """float64 [2, rows, cols]: (line, pixel) in the product of each grid pixel's centre (beyond
    the product where it does not cover the pixel). The geolocation grid's interpolant is
    evaluated every COARSE pixels (linear between: small matrix products), its affine fit
    beyond the points' hull. With a DEM, a pixel at height h above the grid's height is seen
    (h - h_grid) / tan(incidence) nearer in range: the pixel index moves by that over the range
    pixel spacing (terrain correction on the geolocation grid's incidence angles)."""
    node_rows = np.unique(np.r_[np.arange(top, top + rows, COARSE), top + rows - 1])
    node_cols = np.unique(np.r_[np.arange(left, left + cols, COARSE), left + cols - 1])
    xs, ys = self.grid.transform @ np.meshgrid(node_cols + 0.5, node_rows + 0.5)
    points = np.c_[xs.ravel(), ys.ravel()]
    nodes = self._radar_of(points)
    outside = np.isnan(nodes).any(axis=1)
    nodes[outside] = np.c_[points[outside], np.ones(outside.sum())] @ self._affine
    nodes = nodes.reshape(len(node_rows), len(node_cols), -1)
    row_weights = _linear_weights(node_rows, np.arange(top, top + rows))
    col_weights = _linear_weights(node_cols, np.arange(left, left + cols))
    components = 4 if self.dem else 2
    lines, pixels, *terrain = (row_weights @ nodes[..., k] @ col_weights.T
                               for k in range(components))  # fmt: skip
    if self.dem:
      grid_height, incidence = terrain
      height = self.dem.values(top, rows, left, cols)
      shift = (height - grid_height) / np.tan(np.radians(incidence)) / self.spacing
      pixels = pixels - np.where(np.isfinite(shift), shift, 0.0)
    return np.stack([lines, pixels])

  def read_window(self, top: int, rows: int, left: int = 0, cols: int | None = None) -> np.ndarray:
    """float32 [rows, cols, 2]: VV and VH in dB (sigma0), NaN where no data."""
    from scipy.ndimage import map_coordinates

    from flood_jax.scenes.scale import to_db

    cols = self.grid.width - left if cols is None else cols
    pixels = np.full((rows, cols, 2), np.nan, np.float32)
    lines, samples = self.radar_coordinates(top, rows, left, cols)
    known = np.isfinite(lines) & np.isfinite(samples)
    if not known.any():
      return pixels
    line0 = max(int(np.floor(lines[known].min())) - 1, 0)
    line1 = min(int(np.ceil(lines[known].max())) + 2, self.shape[0])
    pixel0 = max(int(np.floor(samples[known].min())) - 1, 0)
    pixel1 = min(int(np.ceil(samples[known].max())) + 2, self.shape[1])
    if line1 <= line0 or pixel1 <= pixel0:
      return pixels
    window = Window(pixel0, line0, pixel1 - pixel0, line1 - line0)
    where = np.stack(
      [np.where(known, lines - line0, -1.0), np.where(known, samples - pixel0, -1.0)]
    )
    for index, ((dataset, band), radiometry) in enumerate(
      zip(self.measurements, self.radiometry, strict=True)
    ):
      dn = dataset.read(band, window=window)
      sigma0 = radiometry.sigma0(dn, line0, pixel0)
      sampled = map_coordinates(
        sigma0, where, order=1, mode="constant", cval=np.nan, prefilter=False
      )
      pixels[..., index] = to_db(sampled.astype(np.float32), "power")
    return pixels

  def close(self) -> None:
    if self.dem is not None:
      self.dem.close()
    self.product.close()
