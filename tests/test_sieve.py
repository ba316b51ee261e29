"""Minimum mapping unit: specks removed, patches kept, the same map streamed or whole."""

import numpy as np
import pytest

from flood_jax.mapping.sieve import StreamingSieve, min_pixels, sieve_water, split_water_bodies


def _map(rng, shape=(300, 200)):
  """Water specks of 1-20 pixels, larger lakes, a long thin river, no data and dry holes."""
  classes = np.zeros(shape, np.uint8)
  for _ in range(80):
    row, col = rng.integers(0, shape[0] - 5), rng.integers(0, shape[1] - 5)
    classes[row : row + rng.integers(1, 5), col : col + rng.integers(1, 5)] = 1
  classes[40:80, 30:90] = 1  # a lake of 2,400 pixels
  classes[55:58, 50:53] = 0  # a dry islet inside it
  classes[:, 150] = 1  # a river through every band
  classes[200:260, 100:103] = 255  # no data
  return classes


def test_specks_go_patches_and_holes_stay():
  classes = np.zeros((20, 20), np.uint8)
  classes[2:4, 2:4] = 1  # 4 pixels: removed at 5
  classes[10:13, 10:12] = 1  # 6 pixels: kept
  classes[0, 19] = 255
  sieved = sieve_water(classes, 5)
  assert sieved[2:4, 2:4].max() == 0 and sieved[10:13, 10:12].min() == 1 and sieved[0, 19] == 255
  lake = np.ones((10, 10), np.uint8)
  lake[4, 4] = 0  # a one-pixel dry hole that GDAL's sieve alone would fill
  assert sieve_water(lake, 5)[4, 4] == 0
  assert min_pixels(20_000, 100.0) == 200 and min_pixels(0, 100.0) == 0


@pytest.mark.parametrize("limit", [2, 7, 25, 120])
def test_streamed_sieve_equals_the_whole_map(limit):
  rng = np.random.default_rng(limit)
  classes = _map(rng)
  whole = sieve_water(classes, limit)
  assert (whole == 1).sum() < (classes == 1).sum()  # something was removed
  stream, pieces, top = StreamingSieve(limit), [], 0
  while top < len(classes):
    rows = int(rng.integers(1, 40))
    pieces += stream.push(top, classes[top : top + rows])
    top += rows
  pieces += stream.finish()
  streamed = np.concatenate([rows for _, rows in pieces])
  assert [start for start, _ in pieces] == list(np.cumsum([0] + [len(r) for _, r in pieces[:-1]]))
  np.testing.assert_array_equal(streamed, whole)


@pytest.mark.parametrize("block", [16, 37])
def test_column_blocks_sieve_as_the_whole_width(monkeypatch, block):
  """Blocks of columns narrower than the patches, with min_pixels columns of context, give
  GDAL's sieve of the whole map (the river and lake cross every block boundary)."""
  import flood_jax.mapping.sieve

  classes = _map(np.random.default_rng(block))
  for limit in (7, 25, 120):
    whole = sieve_water(classes, limit)  # one block: the map is narrower than COLUMN_BLOCK
    monkeypatch.setattr(flood_jax.mapping.sieve, "COLUMN_BLOCK", block)
    np.testing.assert_array_equal(sieve_water(classes, limit), whole)
    monkeypatch.undo()


def _bodies() -> tuple[np.ndarray, np.ndarray]:
  """Water (1) and a reference's permanent mask where flood water touches permanent water."""
  water = np.zeros((60, 80), np.uint8)
  permanent = np.zeros((60, 80), bool)
  water[5:25, 5:25] = 1  # a lake of 400 px, permanent but for a 3 x 4 rim on its right
  water[10:13, 25:29] = 1
  permanent[5:25, 5:25] = True
  water[30:50, 40:60] = 1  # a flood of 400 px around a 3 x 3 reference pixel
  permanent[38:41, 45:48] = True
  water[52:57, 5:10] = 1  # a body of 25 px, 12 flood and 13 permanent: neither alone is a unit
  permanent[52:57, 5:7] = True
  permanent[52:55, 7] = True
  water[2:4, 70:72] = 1  # a speck of 4 px: dry
  return water, permanent


def _finished(water: np.ndarray, permanent: np.ndarray, limit: int) -> np.ndarray:
  sieved = sieve_water(water, limit)
  return split_water_bodies(np.where((sieved == 1) & permanent, 2, sieved).astype(np.uint8), limit)


def test_the_unit_holds_for_each_class_where_flood_touches_permanent_water():
  from scipy import ndimage

  water, permanent = _bodies()
  classes = _finished(water, permanent, 20)
  assert (classes[10:13, 25:29] == 2).all(), "a rim of flood under the unit joins the lake"
  assert (classes[38:41, 45:48] == 1).all(), "a reference pixel inside a flood is flood"
  assert (classes[52:57, 5:10] == 1).all(), "the 13 px of permanent water went first"
  assert (classes[2:4, 70:72] == 0).all()
  assert ((classes > 0) == (sieve_water(water, 20) == 1)).all(), "no water became dry"
  for value in (1, 2):
    labels, count = ndimage.label(classes == value, structure=np.ones((3, 3)))
    assert (ndimage.sum(classes == value, labels, range(1, count + 1)) >= 20).all()


@pytest.mark.parametrize("limit", [7, 25])
@pytest.mark.parametrize("permanent_from", ["reference", "change detection"])
def test_streamed_rules_equal_the_whole_map(limit, permanent_from):
  """Permanent water from a reference layer, or already in the classes (change detection marks
  it before the rules): either way the map is the whole-map rule's."""
  from flood_jax.mapping.map_rules import map_rules

  rng = np.random.default_rng(limit)
  water = _map(rng)
  permanent = np.zeros(water.shape, bool)
  for _ in range(40):  # reference blocks of 3 x 3 px over lakes, specks and the river
    row, col = rng.integers(0, water.shape[0] - 3), rng.integers(0, water.shape[1] - 3)
    permanent[row : row + 3, col : col + 3] = True
  permanent[40:80, 30:60] = True
  whole = _finished(water, permanent, limit)
  assert (whole == 2).any() and (whole == 1).any()
  if permanent_from == "reference":
    rules = map_rules(limit, True, lambda top, rows, width: permanent[top : top + rows, :width])
  else:
    rules = map_rules(limit, True)
    water = np.where((water == 1) & permanent, 2, water).astype(np.uint8)
  pieces, top = [], 0
  while top < len(water):
    rows = int(rng.integers(1, 40))
    pieces += rules.push(top, water[top : top + rows])
    top += rows
  pieces += rules.finish()
  assert [start for start, _ in pieces] == list(np.cumsum([0] + [len(r) for _, r in pieces[:-1]]))
  np.testing.assert_array_equal(np.concatenate([rows for _, rows in pieces]), whole)


def test_a_speck_in_a_small_hole_of_a_lake_is_removed():
  """GDAL's sieve merged the speck into the hole and the hole into the lake, so the speck was
  kept: a 1-px patch once the hole stays dry."""
  lake = np.ones((12, 12), np.uint8)
  lake[4:7, 4:7] = 0  # a dry hole of 8 px ...
  lake[5, 5] = 1  # ... around a speck touching no other water
  sieved = sieve_water(lake, 20)
  assert sieved[5, 5] == 0 and (sieved[4:7, 4:7] == 0).all() and (sieved == 1).sum() == 144 - 9


def _patch_sizes(classes: np.ndarray, value: int) -> np.ndarray:
  from scipy import ndimage

  labels, count = ndimage.label(classes == value, structure=np.ones((3, 3)))
  return np.bincount(labels.ravel(), minlength=count + 1)[1:]


@pytest.mark.parametrize("seed", range(6))
def test_no_patch_of_any_class_is_under_the_unit_for_any_probabilities(seed):
  """Noisy probabilities (speckle at every scale), a noisy reference layer and exclusions,
  streamed in random bands: every flood and permanent water patch of the map has the unit."""
  from scipy import ndimage

  from flood_jax.mapping.map_rules import map_rules

  rng = np.random.default_rng(seed)
  shape, limit = (240, 180), int(rng.choice([4, 9, 20]))
  probability = ndimage.uniform_filter(rng.random(shape), int(rng.integers(1, 4)))
  classes = (probability > np.quantile(probability, rng.uniform(0.3, 0.7))).astype(np.uint8)
  classes[rng.random(shape) < 0.01] = 255
  reference = ndimage.uniform_filter(rng.random(shape), 3) > 0.5
  excluded = rng.random(shape) < 0.02
  rules = map_rules(
    limit,
    True,
    lambda top, rows, width: reference[top : top + rows, :width],
    lambda top, rows, width: excluded[top : top + rows, :width],
  )
  pieces, top = [], 0
  while top < shape[0]:
    rows = int(rng.integers(1, 30))
    pieces += rules.push(top, classes[top : top + rows])
    top += rows
  finished = np.concatenate([rows for _, rows in pieces + rules.finish()])
  assert finished.shape == shape and (finished == 1).any() and (finished == 2).any()
  for value in (1, 2):
    assert _patch_sizes(finished, value).min() >= limit, f"a patch of class {value} is small"
  water = np.isin(finished, (1, 2))
  assert (_patch_sizes(water, True) >= limit).all(), "a water body under the unit"
  assert ((finished == 255) == (classes == 255)).all()
