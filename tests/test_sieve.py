"""Minimum mapping unit: specks removed, patches kept, the same map streamed or whole."""

import numpy as np
import pytest

from flood_jax.sieve import StreamingSieve, min_pixels, sieve_water


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
  import flood_jax.sieve

  classes = _map(np.random.default_rng(block))
  for limit in (7, 25, 120):
    whole = sieve_water(classes, limit)  # one block: the map is narrower than COLUMN_BLOCK
    monkeypatch.setattr(flood_jax.sieve, "COLUMN_BLOCK", block)
    np.testing.assert_array_equal(sieve_water(classes, limit), whole)
    monkeypatch.undo()
