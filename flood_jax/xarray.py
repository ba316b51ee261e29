"""Flood maps of xarray DataArrays, lazily over Dask chunks: `map_floods(vv, vh)`.

    import stackstac, flood_jax.xarray
    stack = stackstac.stack(items, assets=["vv", "vh"], chunksize=256)   # time, band, y, x
    floods = flood_jax.xarray.map_floods(stack.sel(band="vv"), stack.sel(band="vh"),
                                         scale="power")
    floods.flood.isel(time=-1).rio.to_raster("flood.tif")

Each chunk is mapped with a margin of `depth` pixels of its neighbours (`dask.array.map_overlap`),
so windows see the context they see in a whole scene and water patches that cross chunks are
judged whole (the margin is at least the minimum mapping unit in pixels); any dimension besides
y and x (time) is mapped step by step. The CRS and coordinates are kept through rioxarray.
Needs `pip install -e '.[xarray]'`.
"""

from __future__ import annotations

import numpy as np

from flood_jax.api import FloodModel, load_model
from flood_jax.errors import DataError, UsageError
from flood_jax.mapping.classes import NODATA, ClassScheme
from flood_jax.mapping.sieve import min_pixels
from flood_jax.scenes.geotiff import check_same_grid
from flood_jax.scenes.scale import SAMPLE_SIDE, SCALES, arrays_in_db, to_db
from flood_jax.scenes.scene import Grid

try:
  import rioxarray  # noqa: F401  (registers the .rio accessor)
  import xarray
except ImportError:  # pragma: no cover - the extra is not installed
  xarray = None


def map_floods(
  vv: xarray.DataArray,
  vh: xarray.DataArray,
  *,
  model: FloodModel | None = None,
  scale: str = "auto",
  trust_scale: bool = False,
  depth: int | None = None,
) -> xarray.Dataset:
  """Dataset of `flood` (uint8 classes: 0 dry, 1 water, 255 no data) and `probability`
  (float32, NaN no data) on the grid of `vv` and `vh`. Their `scale` (db, power or amplitude)
  is decided from a sample of their values as `predict` decides it ("auto"), or checked against
  it unless `trust_scale`; the decision is in the Dataset's attrs (`scale`, `scale_reason`).
  Lazy where the inputs are Dask arrays; `depth`: margin of each chunk in pixels (default half a
  window, at least the minimum mapping unit)."""
  if xarray is None:
    raise UsageError("flood_jax.xarray needs xarray and rioxarray: pip install -e '.[xarray]'")
  if scale != "auto" and scale not in SCALES:
    raise UsageError(f"scale={scale!r}: choose auto, {', '.join(SCALES)}")
  model = model or load_model()
  grid = _checked_grid(vv, vh)
  scale, reason = _decided_scale(vv, vh, scale, trust_scale)
  y, x = vv.rio.y_dim, vv.rio.x_dim
  vv, vh = (band.transpose(..., y, x) for band in (vv, vh))
  unit = min_pixels(model.trained.rule.min_area_m2, grid.centre_pixel_area_m2())
  depth = depth if depth is not None else max(model.trained.tiling()[0] // 2, unit)
  bands = [to_db_lazy(band, scale) for band in (vv, vh)]
  probability, classes = _mapped(model, bands, unit, depth)
  dataset = xarray.Dataset(
    {
      "flood": (vv.dims, classes, {"flag_values": list(ClassScheme().names)}),
      "probability": (vv.dims, probability),
    },
    coords=vv.coords,
  )
  dataset.flood.attrs["flag_meanings"] = " ".join(ClassScheme().names.values())
  dataset["flood"] = dataset.flood.rio.write_nodata(NODATA)
  dataset.attrs.update(scale=scale, scale_reason=reason)
  return dataset.rio.write_crs(grid.crs)


def _decided_scale(vv, vh, scale: str, trust_scale: bool) -> tuple[str, str]:
  """The scale of the bands from a sample of about 512² of their values (the first step of any
  dimension besides y and x, evenly strided), read without computing the rest."""
  picked = []
  for band in (vv, vh):
    first = band.isel({dim: 0 for dim in band.dims if dim not in (band.rio.y_dim, band.rio.x_dim)})
    step = max(int(np.ceil(np.sqrt(first.size / SAMPLE_SIDE**2))), 1)
    picked.append(np.asarray(first[::step, ::step].values))
  _, _, decided, reason = arrays_in_db(*picked, scale, trust_scale, "VV DataArray")
  return decided, reason


def to_db_lazy(band: xarray.DataArray, scale: str) -> xarray.DataArray:
  """dB of a band in `scale`, lazily (power and amplitude <= 0 are no data)."""
  if scale == "db":
    return band.astype(np.float32)
  return xarray.apply_ufunc(to_db, band.astype(np.float32), scale, dask="allowed")


def _checked_grid(vv: xarray.DataArray, vh: xarray.DataArray) -> Grid:
  """The grid of `vv`, which `vh` must share; DataError where either has no CRS."""
  grids = {}
  for name, band in (("VV", vv), ("VH", vh)):
    if band.rio.crs is None:
      raise DataError(
        f"{name} DataArray {band.name or ''}: has no CRS; set one with .rio.write_crs(...)"
      )
    grids[name] = Grid(band.rio.crs, band.rio.transform(), *band.rio.shape)
  check_same_grid(grids["VV"].named("VV DataArray"), {"VH": grids["VH"].named("VH DataArray")})
  if vv.dims != vh.dims or vv.shape != vh.shape:
    raise DataError(f"VH DataArray: dimensions {dict(vh.sizes)} differ from VV's {dict(vv.sizes)}")
  return grids["VV"]


def _mapped(model: FloodModel, bands: list, unit: int, depth: int):
  """(probability, classes) arrays, Dask where the bands are, else numpy."""
  vv, vh = (band.data for band in bands)
  if not hasattr(vv, "dask"):
    probability = _probability_block(vv, vh, model=model)
    return probability, _classes_block(probability, vv, vh, model=model, unit=unit)
  import dask.array

  vh = vh.rechunk(vv.chunks)
  margins = {axis: (depth if axis >= vv.ndim - 2 else 0) for axis in range(vv.ndim)}
  overlap = dict(depth=margins, boundary="none", trim=True)
  probability = dask.array.map_overlap(
    _probability_block, vv, vh, model=model, dtype=np.float32, meta=np.array((), np.float32),
    **overlap,
  )  # fmt: skip
  classes = dask.array.map_overlap(
    _classes_block, probability, vv, vh, model=model, unit=unit, dtype=np.uint8,
    meta=np.array((), np.uint8), **overlap,
  )  # fmt: skip
  return probability, classes


def _steps(*arrays: np.ndarray):
  """[y, x] slices of each array, step by step over the leading dimensions."""
  for index in np.ndindex(arrays[0].shape[:-2]):
    yield index, [array[index] for array in arrays]


def _probability_block(vv: np.ndarray, vh: np.ndarray, *, model: FloodModel) -> np.ndarray:
  probability = np.full(vv.shape, np.nan, np.float32)
  if vv.size == 0:
    return probability
  for index, (vv_step, vh_step) in _steps(vv, vh):
    probability[index] = model.trained.predict_array(np.stack([vv_step, vh_step], axis=-1))
  return probability


def _classes_block(
  probability: np.ndarray, vv: np.ndarray, vh: np.ndarray, *, model: FloodModel, unit: int
) -> np.ndarray:
  """The map's classes of a block: threshold, backscatter caps, then the minimum mapping
  unit over the block (exact where the block's margin is at least `unit` pixels)."""
  classes = np.full(vv.shape, NODATA, np.uint8)
  if vv.size == 0:
    return classes
  for index, (step, vv_step, vh_step) in _steps(probability, vv, vh):
    vv_vh_db = np.stack([vv_step, vh_step], axis=-1)
    classes[index] = model.trained.rule.array_classes(step, unit, vv_vh_db)
  return classes
