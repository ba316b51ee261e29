"""Tile store: preprocessed tiles as memory-mapped .npy arrays, one folder per split and source.

    DIR/<split>_<source>/vv_vh_db.bin  float32 [N, T, T, 2]  VV, VH in dB (0 where invalid)
    DIR/<split>_<source>/label.bin     uint8   [N, T, T]     1 water, 0 otherwise
    DIR/<split>_<source>/validity.bin  bool    [N, T, T]
    DIR/<split>_<source>/tiles.json    N, T, and chip id and (row, col) offset of every tile

Real chips mixed into training (`config.data.real_roots`) are in DIR/train_real/, each tile's
entry naming its chip's dataset, event and label kind (`source`), so that folds can hold chips
out and the loss can weigh each kind of label.

Arrays are raw C-order bytes (shapes in tiles.json) so they can be appended chip by chip.
Tiles keep VV and VH rather than the engineered bands so that augmentation can act on the
backscatter itself (level shifts, speckle) before the bands are computed. Memory maps give grain
zero-copy random access with no serialisation, and any process can open them read-only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from flood_jax.core.windows import window_starts
from flood_jax.errors import DataError

ARRAYS = ("vv_vh_db", "label", "validity")
REAL = "real"  # the source name of real chips mixed into training: the folder train_real/
ARRAY_DTYPES = {"vv_vh_db": np.float32, "label": np.uint8, "validity": np.bool_}
ARRAY_CHANNELS = {"vv_vh_db": (2,), "label": (), "validity": ()}


class Tile(NamedTuple):
  chip_id: str
  row: int
  col: int
  vv_vh_db: np.ndarray  # float32 [T, T, 2]
  label: np.ndarray  # uint8 [T, T]
  validity: np.ndarray  # bool [T, T]


def tile_offsets(height: int, width: int, tile_size: int, stride: int) -> list[tuple[int, int]]:
  """Top-left corners of tiles covering a chip; the last row and column are flush with the edge."""
  if height < tile_size or width < tile_size:
    return []
  overlap = tile_size - stride
  return [
    (row, col)
    for row in window_starts(height, tile_size, overlap)
    for col in window_starts(width, tile_size, overlap)
  ]


def cut_tiles(
  chip_id: str,
  vv_vh_db: np.ndarray,
  label: np.ndarray,
  validity: np.ndarray,
  tile_size: int,
  stride: int,
) -> Iterator[Tile]:
  """Yields the tiles of a chip that hold at least one valid pixel."""
  for row, col in tile_offsets(*label.shape, tile_size, stride):
    window = np.s_[row : row + tile_size, col : col + tile_size]
    tile_validity = validity[window]
    if not tile_validity.any():
      continue
    tile_vv_vh = np.where(tile_validity[..., None], vv_vh_db[window], 0.0).astype(np.float32)
    yield Tile(chip_id, row, col, tile_vv_vh, label[window].astype(np.uint8), tile_validity)


class TileWriter:
  """Appends tiles to raw arrays on disk, so memory stays flat however many chips there are.

  Use as a context manager; `tiles.json` (the index and shapes) is written on a clean exit only,
  so a folder without it is incomplete.
  """

  def __init__(self, folder: Path, tile_size: int):
    self.folder = Path(folder)
    self.tile_size = tile_size
    self.index: list[dict] = []
    self.folder.mkdir(parents=True)
    self._files = {name: open(self.folder / f"{name}.bin", "wb") for name in ARRAYS}

  def add(self, tile: Tile, about: dict | None = None) -> None:
    """Appends a tile; `about` (its chip's dataset, event, label kind) joins its index entry."""
    for name in ARRAYS:
      array = np.ascontiguousarray(getattr(tile, name), dtype=ARRAY_DTYPES[name])
      self._files[name].write(array.tobytes())
    self.index.append({"chip_id": tile.chip_id, "row": tile.row, "col": tile.col, **(about or {})})

  def __enter__(self) -> TileWriter:
    return self

  def __exit__(self, error_type, error, traceback) -> None:
    for file in self._files.values():
      file.close()
    if error_type is None:
      meta = {"tile_size": self.tile_size, "count": len(self.index), "tiles": self.index}
      (self.folder / "tiles.json").write_text(json.dumps(meta))


class TileSource:
  """Random access to one tile folder, as a grain data source (`__len__`, `__getitem__`).

  An element is a dict with `vv_vh_db` float32 [T, T, 2], `label` uint8 [T, T] and
  `validity` bool [T, T].
  """

  def __init__(self, folder: str | Path):
    self.folder = Path(folder)
    meta_path = self.folder / "tiles.json"
    if not meta_path.exists():
      raise DataError(
        f"{self.folder}: not a complete tile folder (no tiles.json); run flood_jax.preprocess"
      )
    meta = json.loads(meta_path.read_text())
    self.index = meta["tiles"]
    self.tile_size = meta["tile_size"]
    count = meta["count"]
    self._arrays = {}
    for name in ARRAYS:
      shape = (count, self.tile_size, self.tile_size, *ARRAY_CHANNELS[name])
      path = self.folder / f"{name}.bin"
      expected = int(np.prod(shape)) * np.dtype(ARRAY_DTYPES[name]).itemsize
      if not path.exists() or path.stat().st_size != expected:
        raise DataError(
          f"{path}: missing or of the wrong size for {count} tiles; run flood_jax.preprocess again"
        )
      self._arrays[name] = (
        np.memmap(path, dtype=ARRAY_DTYPES[name], mode="r", shape=shape)
        if count
        else np.zeros(shape, ARRAY_DTYPES[name])
      )

  def __len__(self) -> int:
    return len(self.index)

  def __getitem__(self, index: int) -> dict[str, np.ndarray]:
    return {name: np.array(array[index]) for name, array in self._arrays.items()}

  def __repr__(self) -> str:
    return f"TileSource({self.folder}, {len(self)} tiles)"

  def __reduce__(self):
    """Pickled as its folder: a worker process (grain's `mp_prefetch`) maps the files itself
    instead of receiving every tile's bytes (pickling a memmap copies its data)."""
    return (TileSource, (str(self.folder),))


def tile_folder(store: Path, split: str, source: str) -> Path:
  return Path(store) / f"{split}_{source}"
