"""Chips of a dataset root cut into training tiles, with normalisation statistics; the real chips
of `config.data.real_roots`, if any, cut into train_real/ beside them (every chip, whatever its
split: folds hold chips out when training reads them, `pipeline.train_dataset`). Statistics and
class weights come from data.root's training split alone, so that no fold's chips shape them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ml_collections
import numpy as np
from tqdm import tqdm

from flood_jax.core.config import check_tile_stride
from flood_jax.core.files import atomic_folder, write_json
from flood_jax.dataset.catalog import SOURCES, SPLITS, build_catalog, read_record, real_records
from flood_jax.dataset.stats import (
  CLASS_WEIGHTS_FILE,
  BandStatistics,
  class_weights,
  load_stats,
  save_stats,
)
from flood_jax.dataset.tiles import REAL, TileWriter, cut_tiles, tile_folder, tile_offsets
from flood_jax.errors import DataError, UsageError

MANIFEST = "manifest.json"


def _skip_reason(chip) -> str | None:
  if not np.isfinite(chip.vv_vh_db).any():
    return "image has no finite pixel (all NaN)"
  if not chip.validity.any():
    return "no valid pixel (every label is -1 or the image is missing where labelled)"
  return None


def is_complete(output: str | Path) -> bool:
  return (Path(output) / MANIFEST).exists()


def preprocess(
  config: ml_collections.ConfigDict, output: str | Path, overwrite: bool = False
) -> dict:
  """Tiles the dataset of `config.data` into `output`; returns the manifest."""
  data = config.data
  output = Path(output)
  if is_complete(output) and not overwrite:
    raise UsageError(f"{output}: already holds preprocessed tiles; pass --overwrite to redo them")
  check_tile_stride(data)
  records = build_catalog(data.root, tuple(data.splits), use_weak=data.use_weak)
  if not records:
    raise DataError(f"{data.root}: no chip listed in the splits {tuple(data.splits)}")
  # A user error (or Ctrl-C) leaves nothing behind; a hard kill leaves only the partial
  # folder, which is never taken as complete and is replaced by the next run.
  with atomic_folder(output) as partial:
    return _write_store(config, records, partial)


class _TrainingPixels:
  """What the training split's valid pixels give: band statistics and class counts."""

  def __init__(self, compute_stats: bool):
    self.statistics = BandStatistics() if compute_stats else None
    self.classes = np.zeros(2, np.int64)  # dry, water; hand and weak chips

  def add(self, chip) -> None:
    self.classes += np.bincount(chip.label[chip.validity], minlength=2)[:2]
    if self.statistics is not None:
      self.statistics.add(chip.image, chip.validity)


def _tile_chips(
  config: ml_collections.ConfigDict, records: list, writers: dict, training: _TrainingPixels
) -> tuple[list, int]:
  """Cuts every usable chip into its split's tiles; returns (skipped chips, dropped tiles)."""
  data = config.data
  skipped, dropped_tiles = [], 0
  for record in tqdm(records, desc="preprocess", unit="chip", file=sys.stderr):
    chip = read_record(record, data.band_domain)
    reason = _skip_reason(chip)
    if reason:
      skipped.append({"chip_id": record.chip_id, "source": record.source, "reason": reason})
      continue
    writer = writers[(record.split, record.source)]
    kept = 0
    for tile in cut_tiles(
      record.chip_id, chip.vv_vh_db, chip.label, chip.validity, data.tile_size, data.tile_stride
    ):
      writer.add(tile)
      kept += 1
    dropped_tiles += len(tile_offsets(*chip.label.shape, data.tile_size, data.tile_stride)) - kept
    if record.split == "train":
      training.add(chip)
  return skipped, dropped_tiles


def _tile_real_chips(data: ml_collections.ConfigDict, writer: TileWriter) -> list[dict]:
  """Cuts every usable chip of data.real_roots into `writer`; returns the skipped chips."""
  skipped = []
  for record in tqdm(
    real_records(data.real_roots), desc="real chips", unit="chip", file=sys.stderr
  ):
    chip = read_record(record, data.band_domain)
    reason = _skip_reason(chip)
    if reason:
      skipped.append({"chip_id": record.chip_id, "source": record.source, "reason": reason})
      continue
    about = {"dataset": record.dataset, "event": record.event, "source": record.source}
    for tile in cut_tiles(
      record.chip_id, chip.vv_vh_db, chip.label, chip.validity, data.tile_size, data.tile_stride
    ):
      writer.add(tile, about)
  return skipped


def real_roots_of(data: ml_collections.ConfigDict) -> list[str]:
  """data.real_roots as absolute paths (how the manifest records them)."""
  return [str(Path(root).resolve()) for root in data.real_roots]


def _normalisation(data: ml_collections.ConfigDict, training: _TrainingPixels) -> dict:
  if data.stats_from:
    return dict(load_stats(data.stats_from), source=str(data.stats_from))
  if training.statistics.count == 0:
    raise DataError(
      f"{data.root}: no valid training pixel (the train split is empty or absent), so no "
      "normalisation statistics; point --config.data.stats_from at a stats.json computed elsewhere"
    )
  return dict(
    training.statistics.result(), source="train split, valid pixels", band_domain=data.band_domain
  )


def _write_store(config: ml_collections.ConfigDict, records: list, partial: Path) -> dict:
  """Writes tiles, stats.json, class_weights.json and manifest.json into `partial`."""
  data = config.data
  writers = {
    (split, source): TileWriter(tile_folder(partial, split, source), data.tile_size)
    for split in SPLITS
    for source in SOURCES
  }
  if data.real_roots:
    writers[("train", REAL)] = TileWriter(tile_folder(partial, "train", REAL), data.tile_size)
  training = _TrainingPixels(compute_stats=not data.stats_from)
  try:
    skipped, dropped_tiles = _tile_chips(config, records, writers, training)
    if data.real_roots:
      skipped += _tile_real_chips(data, writers[("train", REAL)])
  finally:
    for writer in writers.values():
      writer.__exit__(*sys.exc_info())
  save_stats(partial / "stats.json", _normalisation(data, training))
  if training.classes.all():
    write_json(partial / CLASS_WEIGHTS_FILE, class_weights(*training.classes))
  manifest = {
    "root": str(Path(data.root).absolute()),
    "tile_size": data.tile_size,
    "tile_stride": data.tile_stride,
    "band_domain": data.band_domain,
    "tiles": {
      split: {source: len(writers[(split, source)].index) for source in SOURCES} for split in SPLITS
    },
    "dropped_tiles_without_valid_pixel": dropped_tiles,
    "skipped_chips": skipped,
    "num_chips": len(records),
    "real_roots": real_roots_of(data),
    "real_tiles": len(writers[("train", REAL)].index) if data.real_roots else 0,
  }
  (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
  return manifest
