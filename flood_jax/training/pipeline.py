"""grain input pipelines: preprocessed tiles -> augmented, normalised (image, label, validity).

Training: for hand, weak and real tiles separately, `source -> shuffle(seed) -> repeat ->
random_map(augment) -> process rows -> batch`, then each global batch is the hand part, the weak
part and the real part at the configured shares (`batch_composition`). Real tiles (train_real/,
`config.data.real_roots`) are those of chips not held out (`config.data.real_holdout`: chip ids,
events or datasets), each weighted in the loss by its label kind. Shuffling is reseeded every epoch by grain; augmentation is
seeded by the element's index in the stream, so a batch depends only on the seed and its step,
not on the number of processes or on whether the run was resumed.

Multi-host: every process reads only its rows of each global batch (rows
`[p * local, (p + 1) * local)` of the hand part and of the weak part).

A prepared element is a dict:
    image     float32 [T, T, 3]  normalised bands, 0 at invalid pixels
    label     float32 [T, T, 1]  1 water, 0 otherwise
    validity  bool    [T, T, 1]
    weight    float32 [1, 1, 1]  loss weight of the tile's labels (training only; synthetic 1)
"""

from __future__ import annotations

import math

import grain
import ml_collections
import numpy as np

from flood_jax.core.config import check_batch_rows, check_divisible, check_weak_fraction
from flood_jax.dataset.catalog import SOURCES
from flood_jax.dataset.tiles import REAL, TileSource, tile_folder
from flood_jax.errors import DataError
from flood_jax.scenes.bands import normalised_bands


def prepare(element: dict, stats: dict, band_domain: str) -> dict:
  """Engineered, normalised bands with invalid pixels set to 0 (the training mean), the label
  and validity with a channel axis."""
  validity = element["validity"]
  return {
    "image": normalised_bands(element["vv_vh_db"], validity, stats, band_domain),
    "label": element["label"][..., None].astype(np.float32),
    "validity": validity[..., None].astype(bool),
  }


def augment_geometry(
  element: dict, rng: np.random.Generator, aug: ml_collections.ConfigDict
) -> dict:
  """The same flips and 90-degree rotation on every [T, T, ...] array of the element."""
  flip_rows = rng.uniform() < aug.flip_probability
  flip_cols = rng.uniform() < aug.flip_probability
  quarter_turns = int(rng.integers(1, 4)) if rng.uniform() < aug.rotate_probability else 0

  def transform(array):
    if flip_rows:
      array = array[::-1]
    if flip_cols:
      array = array[:, ::-1]
    return np.ascontiguousarray(np.rot90(array, quarter_turns, axes=(0, 1)))

  return {name: transform(array) for name, array in element.items()}


def augment_backscatter(element: dict, rng: np.random.Generator, aug) -> dict:
  """Level shift (one dB offset on VV and VH) and extra speckle, on valid pixels only."""
  vv_vh_db = element["vv_vh_db"]
  if rng.uniform() < aug.level_shift_probability:
    vv_vh_db = vv_vh_db + rng.uniform(-aug.level_shift_db, aug.level_shift_db)
  if rng.uniform() < aug.speckle_probability:
    speckle = rng.gamma(aug.speckle_looks, 1.0 / aug.speckle_looks, vv_vh_db.shape)
    vv_vh_db = vv_vh_db + 10.0 * np.log10(speckle)
  vv_vh_db = np.where(element["validity"][..., None], vv_vh_db, 0.0).astype(np.float32)
  return {**element, "vv_vh_db": vv_vh_db}


def augment_intensity(prepared: dict, rng: np.random.Generator, aug) -> dict:
  """Brightness (an offset) and contrast (a scale about the tile mean) on the image only, in
  place: `prepare` made the image for this element alone (the same float32 operations as
  out of place, so the same bytes, without three temporaries of the tile)."""
  image, validity = prepared["image"], prepared["validity"]
  if rng.uniform() < aug.brightness_probability:
    image += np.float32(rng.uniform(-aug.brightness, aug.brightness))
  if rng.uniform() < aug.contrast_probability:
    mean = image.mean(axis=(0, 1), keepdims=True)
    image -= mean
    image *= np.float32(rng.uniform(1 - aug.contrast, 1 + aug.contrast))
    image += mean
  np.copyto(image, np.float32(0.0), where=~validity)
  return {**prepared, "image": image}


def make_augment(config: ml_collections.ConfigDict, stats: dict):
  """The training `random_map`: geometry and backscatter on raw tiles, then bands and intensity;
  the tile's label weight (`WeightedTiles`) is carried through."""

  def augment(element: dict, rng: np.random.Generator) -> dict:
    carried = {name: element[name] for name in ("weight",) if name in element}
    element = {name: element[name] for name in ("vv_vh_db", "label", "validity")}
    element = augment_geometry(element, rng, config.augment)
    element = augment_backscatter(element, rng, config.augment)
    prepared = prepare(element, stats, config.data.band_domain)
    return {**augment_intensity(prepared, rng, config.augment), **carried}

  return augment


class WeightedTiles:
  """Tiles `indices` of a `TileSource`, each with its label weight (float32 [1, 1, 1]); a grain
  data source, pickled as its folder and choices."""

  def __init__(self, source: TileSource, indices: list[int], weights: list[float]):
    self.source, self.indices = source, list(indices)
    self.weights = np.asarray(weights, np.float32)

  def __len__(self) -> int:
    return len(self.indices)

  def __getitem__(self, index: int) -> dict:
    weight = np.full((1, 1, 1), self.weights[index], np.float32)
    return {**self.source[self.indices[index]], "weight": weight}


def all_tiles(source: TileSource) -> WeightedTiles:
  """Every tile of a folder, at weight 1."""
  return WeightedTiles(source, range(len(source)), [1.0] * len(source))


def real_tiles(source: TileSource, data: ml_collections.ConfigDict) -> WeightedTiles:
  """The real tiles of chips not held out, weighted by label kind (hand or weak)."""
  held_out = set(data.real_holdout)
  weights = {"hand": data.real_hand_weight, "weak": data.real_weak_weight}
  kept = [
    (index, weights[entry["source"]])
    for index, entry in enumerate(source.index)
    if not held_out & {entry["chip_id"], entry.get("event"), entry.get("dataset")}
  ]
  return WeightedTiles(source, [index for index, _ in kept], [weight for _, weight in kept])


def _stack(elements: list[dict]) -> dict:
  return {name: np.stack([element[name] for element in elements]) for name in elements[0]}


def batch_composition(config, has_weak: bool, has_real: bool = False) -> tuple[int, int, int]:
  """(hand, weak, real) rows of each global batch: real tiles take data.real_fraction of it,
  weak tiles data.weak_fraction of the rest."""
  check_weak_fraction(config.data)
  real = int(round(config.batch_size * config.data.real_fraction)) if has_real else 0
  rest = config.batch_size - real
  weak_fraction = config.data.weak_fraction if has_weak and config.data.use_weak else 0.0
  weak = int(round(rest * weak_fraction))
  return rest - weak, weak, real


def _rows_of_process(per_batch: int, process_index: int, process_count: int):
  """Per-process view: element j of local batch b is global element b * per_batch + p * local + j."""
  local = per_batch // process_count

  def pick(index: int) -> int:
    batch_index, row = divmod(index, local)
    return batch_index * per_batch + process_index * local + row

  return local, pick


def train_dataset(
  store,
  config: ml_collections.ConfigDict,
  stats: dict,
  process_index: int = 0,
  process_count: int = 1,
) -> grain.MapDataset:
  """Local training batches, one per step (`len` = config.num_train_steps)."""
  sources = {
    source: all_tiles(TileSource(tile_folder(store, "train", source))) for source in SOURCES
  }
  if config.data.real_roots:
    sources[REAL] = real_tiles(TileSource(tile_folder(store, "train", REAL)), config.data)
  if not any(len(tiles) for tiles in sources.values()):
    raise DataError(f"{store}: no training tile; the dataset has no train chip with a valid pixel")
  streams = (*SOURCES, REAL)
  has_real = len(sources.get(REAL, ())) > 0
  rows = dict(
    zip(streams, batch_composition(config, len(sources["weak"]) > 0, has_real), strict=True)
  )
  if len(sources["hand"]) == 0:  # the hand rows go to the weak tiles, else to the real ones
    rows["weak" if len(sources["weak"]) else REAL] += rows.pop("hand")
  parts = []
  for offset, source in enumerate(streams):
    if not rows.get(source):
      continue
    check_batch_rows(config.batch_size, rows[source], source, process_count)
    stream = (
      grain.MapDataset.source(sources[source])
      .shuffle(seed=config.seed + 1000 * offset)
      .repeat()
      .random_map(make_augment(config, stats), seed=config.seed + 1000 * offset + 1)
    )
    local, pick = _rows_of_process(rows[source], process_index, process_count)
    parts.append((stream, local, pick))

  def global_batch(step: int) -> dict:
    elements = [
      stream[pick(step * local + j)] for stream, local, pick in parts for j in range(local)
    ]
    return _stack(elements)

  return grain.MapDataset.range(config.num_train_steps).map(global_batch)


def eval_batches(
  store,
  split: str,
  config: ml_collections.ConfigDict,
  stats: dict,
  sources=("hand",),
  process_index: int = 0,
  process_count: int = 1,
) -> grain.MapDataset:
  """Local evaluation batches of a split, in order, padded with invalid rows to full size.

  Each element also has `index` int32 [B] (position in the split's tile list, -1 for padding)
  so reports can name the chip of every row.
  """
  tiles = [TileSource(tile_folder(store, split, source)) for source in sources]
  lengths = [len(source) for source in tiles]
  total = sum(lengths)
  global_size = config.eval_batch_size
  check_divisible("eval_batch_size", global_size, process_count, "processes")
  local = global_size // process_count
  offsets = np.cumsum([0, *lengths])
  tile_size = tiles[0].tile_size if tiles else config.data.tile_size

  def element(index: int) -> dict:
    if index >= total:
      empty = {
        "vv_vh_db": np.zeros((tile_size, tile_size, 2), np.float32),
        "label": np.zeros((tile_size, tile_size), np.uint8),
        "validity": np.zeros((tile_size, tile_size), bool),
      }
      return {**prepare(empty, stats, config.data.band_domain), "index": np.int32(-1)}
    which = int(np.searchsorted(offsets, index, side="right") - 1)
    raw = tiles[which][index - offsets[which]]
    return {**prepare(raw, stats, config.data.band_domain), "index": np.int32(index)}

  def batch(batch_index: int) -> dict:
    start = batch_index * global_size + process_index * local
    return _stack([element(start + row) for row in range(local)])

  return grain.MapDataset.range(math.ceil(total / global_size)).map(batch)


def to_iterator(dataset: grain.MapDataset, config: ml_collections.ConfigDict):
  """A checkpointable iterator (`get_state` / `set_state`) reading with threads."""
  options = grain.ReadOptions(
    num_threads=config.data.num_threads, prefetch_buffer_size=config.data.prefetch
  )
  return iter(dataset.to_iter_dataset(options))
