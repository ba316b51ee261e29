"""The catalog of chips: every folder of chips, in any layout flood_jax reads
(`dataset.layouts`: Sen1Floods11, DFC 2024, TerraMesh, generic), listed as `ChipRecord`s and
read as `Chip`s through one door. Training, evaluation and the experiments read chips only here.

- `build_catalog(root, splits)`: the chips of one folder, in its official splits where it has
  them (sets without official splits put every chip in "test");
- `real_records(roots)`: every chip of several folders (real chips mixed into training and
  cross-validated: `config.data.real_roots`);
- `read_record(record)`: one chip's bands, label and validity.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from flood_jax.dataset.layouts import LAYOUTS, layout_of
from flood_jax.dataset.records import SOURCES, SPLITS, Chip, ChipRecord
from flood_jax.dataset.sen1floods11 import parse_split_csv
from flood_jax.errors import DataError

__all__ = [
  "SOURCES",
  "SPLITS",
  "ChipRecord",
  "build_catalog",
  "count_by_split",
  "parse_split_csv",
  "read_record",
  "real_records",
]


def build_catalog(
  root: str | Path, splits: Sequence[str] = SPLITS, use_weak: bool = True
) -> list[ChipRecord]:
  """The chips of the folder `root` in `splits` (headers checked); `use_weak` takes
  Sen1Floods11's weakly labelled part too. DataError naming the folder or file at the first
  problem."""
  root = Path(root)
  if not root.is_dir():
    raise DataError(f"{root}: dataset root not found; set --config.data.root to a folder of chips")
  for split in splits:
    if split not in SPLITS:
      raise DataError(f"unknown split {split!r}; expected some of {SPLITS}")
  return layout_of(root).records(root, tuple(splits), use_weak)


def real_records(roots: Iterable[str | Path]) -> list[ChipRecord]:
  """Every chip of each folder of `roots`, whatever its split; a chip id twice is an error."""
  records, seen = [], {}
  for root in roots:
    for record in build_catalog(root, SPLITS, use_weak=True):
      if record.chip_id in seen:
        raise DataError(f"{root}: chip {record.chip_id} is also in {seen[record.chip_id]}")
      seen[record.chip_id] = root
      records.append(record)
  return records


def read_record(record: ChipRecord, band_domain: str = "db") -> Chip:
  """The chip's engineered bands, label, validity and VV/VH in dB, read by its layout."""
  return LAYOUTS[record.layout].read(record, band_domain)


def count_by_split(records: Iterable[ChipRecord]) -> dict[str, dict[str, int]]:
  counts = {split: dict.fromkeys(SOURCES, 0) for split in SPLITS}
  for record in records:
    counts[record.split][record.source] += 1
  return counts
