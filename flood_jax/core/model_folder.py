"""A self-contained model folder: what `flood_jax.export` writes and `TrainedModel` loads.

    MODEL_DIR/model.json         architecture config, normalisation, threshold, bands, input
                                 scale, pixel size, training data, metrics, checks, checksums
    MODEL_DIR/model.onnx         float32, batch norm folded, dynamic batch
    MODEL_DIR/model.int8.onnx    static int8 (QDQ, per-channel weights), where export wrote one
    MODEL_DIR/variables.msgpack  the Flax parameters and batch statistics (XLA, Grad-CAM++)

Every file's SHA-256 is in model.json; a missing or altered file is refused on loading. The
folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flood_jax.core.files import atomic_folder
from flood_jax.errors import DataError, UsageError

MODEL_JSON = "model.json"
MODEL_CARD = "MODEL_CARD.md"
FILES = {"float32": "model.onnx", "int8": "model.int8.onnx", "variables": "variables.msgpack"}


def sha256(path: Path) -> str:
  digest = hashlib.sha256()
  with Path(path).open("rb") as file:
    for block in iter(lambda: file.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def is_model_folder(path: str | Path) -> bool:
  return (Path(path) / MODEL_JSON).is_file()


def write_folder(output: Path, files: dict[str, bytes], card: dict, overwrite: bool) -> None:
  """Writes `files` (name -> bytes) and model.json (`card` plus checksums) atomically."""
  output = Path(output)
  if output.exists() and not overwrite:
    raise UsageError(f"{output}: already exists; pass --overwrite to replace it")
  with atomic_folder(output) as partial:
    for name, content in files.items():
      (partial / name).write_bytes(content)
    card = {**card, "files": {name: sha256(partial / name) for name in files}}
    (partial / MODEL_JSON).write_text(json.dumps(card, indent=2))


def read_folder(path: str | Path) -> dict:
  """model.json of a model folder whose files are all present and unaltered."""
  path = Path(path)
  if not is_model_folder(path):
    raise UsageError(
      f"{path}: not a model folder (no {MODEL_JSON}); write one with flood_jax.export"
    )
  try:
    card = json.loads((path / MODEL_JSON).read_text())
    files = dict(card["files"])
  except (ValueError, KeyError, TypeError) as error:
    raise DataError(f"{path / MODEL_JSON}: not a flood_jax model card ({error})") from None
  for name, checksum in files.items():
    if not (path / name).is_file():
      raise DataError(f"{path / name}: missing from the model folder; export the model again")
    if sha256(path / name) != checksum:
      raise DataError(f"{path / name}: checksum differs from model.json; the file was altered")
  return card


def card_limits(folder: Path) -> list[str]:
  """The items of the "## Limits" section of the folder's MODEL_CARD.md ([] where none)."""
  card = Path(folder) / MODEL_CARD
  if not card.is_file():
    return []
  items, inside = [], False
  for line in card.read_text().splitlines():
    if line.startswith("## "):
      inside = line.strip().lower() == "## limits"
    elif inside and line.startswith("- "):
      items.append(line[2:].strip())
    elif inside and line.strip() and items:
      items[-1] += " " + line.strip()
  return items


def read_variables(folder: str | Path) -> dict:
  """The Flax variables ({"params", "batch_stats"}) of a checked model folder's
  variables.msgpack; UsageError where it holds none (an ONNX-only folder)."""
  import flax.serialization

  card = read_folder(folder)
  if FILES["variables"] not in card["files"]:
    raise UsageError(f"{folder}: holds no {FILES['variables']} (an ONNX-only model folder)")
  return flax.serialization.msgpack_restore((Path(folder) / FILES["variables"]).read_bytes())
