"""Whole-scene prediction: georeferencing, nodata, seams, agreement with chip-wise evaluation."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from flood_jax.api import trained_model
from flood_jax.core.metrics import confusion_matrix as confusion
from flood_jax.core.metrics import scores
from flood_jax.core.windows import blend_weights, window_starts
from flood_jax.dataset.synthetic import synthesize_scene
from flood_jax.errors import UsageError
from flood_jax.mapping.classes import NODATA as FLOOD_NODATA
from flood_jax.products.scene_map import MapOptions, Outputs
from flood_jax.products.scene_map import write_scene as predict_outputs


def map_float32(model, scene, map_path, probability_path=None, show_progress=False, **options):
  """write_scene with float32 probabilities, as these tests compare them to 1e-5."""
  outputs = Outputs(Path(map_path), Path(probability_path) if probability_path else None)
  options = MapOptions(probability_dtype="float32", show_progress=show_progress, **options)
  return predict_outputs(model, scene, outputs, options)


@pytest.fixture(scope="module")
def model(trained_workdir):
  return trained_model(trained_workdir)


def write_scene(path, vv_vh_db, crs="EPSG:32633", transform=None):
  transform = transform or from_origin(300000, 5000000, 10, 10)
  with rasterio.open(path, "w", driver="GTiff", height=vv_vh_db.shape[0], width=vv_vh_db.shape[1], count=2,
                     dtype="float32", crs=crs, transform=transform, nodata=float("nan")) as dataset:  # fmt: skip
    dataset.write(np.moveaxis(vv_vh_db, -1, 0))
  return path


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
  folder = tmp_path_factory.mktemp("scene")
  synthetic = synthesize_scene(np.random.default_rng(5), (1100, 900), nodata=False)
  vv_vh_db = synthetic.vv_vh_db.copy()
  vv_vh_db[:150, :200] = np.nan  # a no-data corner
  return write_scene(folder / "scene.tif", vv_vh_db), vv_vh_db, synthetic.water


def read(path):
  with rasterio.open(path) as dataset:
    return dataset.read(1), dataset.profile, dataset


def test_output_keeps_size_georeferencing_and_nodata(model, scene, tmp_path):
  path, vv_vh_db, _ = scene
  summary = map_float32(
    model, path, tmp_path / "flood.tif", tmp_path / "probability.tif", show_progress=False
  )
  flood, profile, _ = read(tmp_path / "flood.tif")
  with rasterio.open(path) as source, rasterio.open(tmp_path / "flood.tif") as output:
    assert (output.height, output.width) == (source.height, source.width)
    assert output.crs == source.crs and output.transform == source.transform
    assert output.dtypes[0] == "uint8" and output.nodata == FLOOD_NODATA
    assert output.profile.get("tiled") and output.compression is not None
  missing = ~np.isfinite(vv_vh_db).all(-1)
  assert np.all(flood[missing] == FLOOD_NODATA)
  assert set(np.unique(flood[~missing])) <= {0, 1}
  probability, _, _ = read(tmp_path / "probability.tif")
  assert np.isnan(probability[missing]).all() and np.isfinite(probability[~missing]).all()
  np.testing.assert_array_equal(
    flood[~missing], (probability[~missing] > model.threshold).astype(np.uint8)
  )
  assert summary["valid_pixels"] == int((~missing).sum())
  assert not list(tmp_path.glob(".*partial"))


def test_scene_matches_in_memory_prediction_and_chipwise_iou(model, scene, tmp_path):
  path, vv_vh_db, water = scene
  map_float32(model, path, tmp_path / "flood.tif", tmp_path / "p.tif", show_progress=False)
  probability, _, _ = read(tmp_path / "p.tif")
  in_memory = model.predict_array(vv_vh_db)
  np.testing.assert_allclose(probability, in_memory, atol=1e-5)
  valid = np.isfinite(vv_vh_db).all(-1)
  scene_iou = scores(confusion(water, probability > 0.5, valid))["iou"]
  chip_counts = np.zeros((2, 2), np.int64)
  for row in range(0, 1024, 512):
    for col in range(0, 512 + 1, 384):
      window = np.s_[row : row + 512, col : col + 384]
      chip = model.predict_array(vv_vh_db[window])
      chip_counts += confusion(water[window], chip > 0.5, valid[window])
  assert scene_iou == pytest.approx(scores(chip_counts)["iou"], abs=0.03)


def test_no_seam_where_windows_meet(model, scene, tmp_path):
  """A row where windows meet agrees with a run whose windows meet elsewhere."""
  path, vv_vh_db, _ = scene
  map_float32(
    model,
    path,
    tmp_path / "a.tif",
    tmp_path / "pa.tif",
    tile_size=64,
    overlap=16,
    show_progress=False,
  )
  map_float32(
    model,
    path,
    tmp_path / "b.tif",
    tmp_path / "pb.tif",
    tile_size=64,
    overlap=24,
    show_progress=False,
  )
  first, _, _ = read(tmp_path / "pa.tif")
  second, _, _ = read(tmp_path / "pb.tif")
  valid = np.isfinite(first) & np.isfinite(second)
  difference = np.where(valid, np.abs(first - second), np.nan)
  seam_rows = [start + 64 - 1 for start in window_starts(first.shape[0], 64, 16)[:-1]]
  seam_rows += [start for start in window_starts(first.shape[0], 64, 16)[1:]]
  seam = np.nanmean(difference[seam_rows])
  overall = np.nanmean(difference)
  assert seam <= 2.0 * overall + 0.01
  # Without blending the same comparison shows the seams this guards against.
  map_float32(
    model,
    path,
    tmp_path / "c.tif",
    tmp_path / "pc.tif",
    tile_size=64,
    overlap=0,
    show_progress=False,
  )
  unblended, _, _ = read(tmp_path / "pc.tif")
  hard_rows = [start for start in window_starts(first.shape[0], 64, 0)[1:]]
  hard_difference = np.abs(np.diff(np.where(np.isfinite(unblended), unblended, 0), axis=0))
  blended_difference = np.abs(np.diff(np.where(np.isfinite(first), first, 0), axis=0))
  assert np.mean(blended_difference[[r - 1 for r in hard_rows]]) < np.mean(
    hard_difference[[r - 1 for r in hard_rows]]
  )


def test_a_scene_with_no_valid_pixel_is_an_error_not_a_map(model, tmp_path):
  """An all-no-data scene gave a map and a report headed "Water: 0.00 km² (nan% ...)", which
  reads as "no flood"; now one line, no file, and a failed row in a list."""
  from flood_jax.errors import DataError

  path = write_scene(tmp_path / "empty.tif", np.full((70, 90, 2), np.nan, np.float32))
  with pytest.raises(DataError, match="empty: no valid pixel .* no map written"):
    map_float32(model, path, tmp_path / "flood.tif", show_progress=False)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.tif"]
  import flood_jax

  rows = flood_jax.map_scenes([path], tmp_path / "maps", model=flood_jax.load_model())
  assert rows[0].status == "failed" and "no valid pixel" in rows[0].error


def test_small_scene_is_padded(model, tmp_path):
  synthetic = synthesize_scene(np.random.default_rng(1), (40, 50), nodata=False)
  path = write_scene(tmp_path / "small.tif", synthetic.vv_vh_db)
  map_float32(model, path, tmp_path / "flood.tif", show_progress=False)
  flood, _, _ = read(tmp_path / "flood.tif")
  assert flood.shape == (40, 50) and set(np.unique(flood)) <= {0, 1}


def test_bad_inputs_and_outputs(model, scene, tmp_path):
  path, _, _ = scene
  one_band = tmp_path / "one.tif"
  with rasterio.open(
    one_band, "w", driver="GTiff", height=8, width=8, count=1, dtype="float32"
  ) as dataset:
    dataset.write(np.zeros((1, 8, 8), np.float32))
  with pytest.raises(UsageError, match="one.tif: one band and no partner"):
    map_float32(model, one_band, tmp_path / "out.tif", show_progress=False)
  with pytest.raises(UsageError, match="does not exist"):
    map_float32(model, path, tmp_path / "missing" / "out.tif", show_progress=False)
  with pytest.raises(UsageError, match="not writable"):
    map_float32(model, path, "/proc/flood.tif", show_progress=False)


def test_blend_weights_are_smooth_and_positive():
  weights = blend_weights(64, 16)
  assert weights.min() > 0 and weights.max() == pytest.approx(1.0)
  assert weights[32, 32] == pytest.approx(1.0) and weights[0, 32] < 0.05
  assert window_starts(100, 64, 16) == [0, 36] and window_starts(30, 64, 16) == [0]


@pytest.mark.parametrize("shape,tile_size,overlap", [((150, 170), 64, 16), ((40, 200), 64, 0)])
def test_streamed_blending_equals_whole_array_reference(model, scene, shape, tile_size, overlap):
  """blended_rows (strips, shifted accumulators, per-batch normalisation) against a direct
  weighted average of every window over the whole array, including arrays shorter than a tile."""
  vv_vh_db = scene[1][300 : 300 + shape[0], 300 : 300 + shape[1]].copy()
  vv_vh_db[:10, :30] = np.nan
  streamed = model.predict_array(vv_vh_db, tile_size=tile_size, overlap=overlap, batch_size=3)

  height, width = max(shape[0], tile_size), max(shape[1], tile_size)
  padded = np.full((height, width, 2), np.nan, np.float32)
  padded[: shape[0], : shape[1]] = vv_vh_db
  image, validity = model.normalised_input(padded)
  weights = blend_weights(tile_size, overlap)
  total = np.zeros((height, width))
  weight_sum = np.zeros((height, width))
  for row in window_starts(height, tile_size, overlap):
    for col in window_starts(width, tile_size, overlap):
      window = np.s_[row : row + tile_size, col : col + tile_size]
      total[window] += model.probabilities(image[window][None])[0] * weights
      weight_sum[window] += weights
  reference = np.where(validity, total / weight_sum, np.nan)[: shape[0], : shape[1]]
  np.testing.assert_allclose(streamed, reference, atol=1e-5)
