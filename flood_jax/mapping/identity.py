"""What a loaded model is, in words and as a fingerprint: the model folder's checksums (or a
workdir's best checkpoint), the engine, the rule and the windows, what it was trained on, and
the limits its card states."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flood_jax.core import model_folder


def fingerprint(model) -> str:
  """Changes whenever the model or a setting that changes its maps changes."""
  if model.card.get("files"):
    weights = model.card["files"]
  else:
    best = Path(model.source) / "checkpoints" / "best"
    weights = [model.source, best.stat().st_mtime_ns if best.exists() else None]
  engine = [model.engine.name, model.engine.precision]
  settings = [weights, engine, *model.rule.fingerprint(list(model.tiling()))]
  return hashlib.sha256(json.dumps(settings, default=str).encode()).hexdigest()[:16]


def describe(model) -> str:
  """'<source> on <engine> <precision>, threshold 0.950, <the rule's words>'."""
  engine = f"{model.engine.name} {model.engine.precision}"
  return f"{model.source} on {engine}, threshold {model.threshold:.3f}{model.rule.describe()}"


def training_data(model) -> str:
  """What the model was trained on: its data root and real chips, or that it saw synthetic data
  only (with a pointer to its card)."""
  data = model.config.data
  real = [_set_name(Path(root)) for root in data.get("real_roots", ())]
  trained = data.root or "synthetic data (flood_jax.dataset.synthetic)"
  if real:
    return f"{trained} and the real chips of {', '.join(real)}"
  if data.root:
    return data.root
  card = Path(model.source) / model_folder.MODEL_CARD
  where = f"; read {card} before relying on its maps" if card.exists() else ""
  return f"synthetic data only (flood_jax.dataset.synthetic), no real scene{where}"


def limits(model) -> list[str]:
  """The "Limits" of the model's card (MODEL_CARD.md), one entry per item; [] without one."""
  return model_folder.card_limits(Path(model.source))


def _set_name(root: Path) -> str:
  """A real set's name: its folder's, or the dataset's for a versioned root (sen1floods11/v1.1)."""
  return root.parent.name if root.name.startswith("v") and root.name[1:2].isdigit() else root.name
