"""Loading a model to map with: a model folder (flood_jax.export) on the engine chosen once
here, the bundled model, or a training workdir through the `workdir_parts` its caller hands in
(`training.restore.workdir_parts`: mapping knows nothing of checkpoints; the API, the programs
and export wire it).

`auto` picks ONNX Runtime on a CPU, int8 where export recorded that it passed its check (else
float32), and XLA on a GPU or TPU; the model's config may ask for test-time flips.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import ml_collections

from flood_jax.core import model_folder
from flood_jax.core.config import load_config
from flood_jax.errors import UsageError
from flood_jax.mapping.engines import OnnxRuntimeEngine, XlaEngine, accelerator_present
from flood_jax.mapping.inference import FlaxWeights, TrainedModel

ENGINES, PRECISIONS = ("auto", "xla", "onnxruntime"), ("auto", "float32", "int8")
BUNDLED_MODEL = Path(__file__).parents[1] / "bundled" / "demo"


def bundled_model() -> Path:
  """The model folder shipped with the package; UsageError where this install has none."""
  if not model_folder.is_model_folder(BUNDLED_MODEL):
    raise UsageError("no model given (--model or --workdir), and this install has no bundled model")
  return BUNDLED_MODEL


def load_trained(
  source: str | Path,
  engine: str = "auto",
  precision: str = "auto",
  threads: int | None = None,
  workdir_parts: Callable | None = None,
) -> TrainedModel:
  """A model folder on the chosen engine, or a training workdir's best checkpoint on XLA (read by
  `workdir_parts(workdir) -> (config, stats, variables, card)`), with the test-time flips its
  config asks for."""
  if model_folder.is_model_folder(source):
    model = load_folder(source, engine, precision, threads)
  elif engine == "onnxruntime":
    raise UsageError(
      f"{source}: --engine=onnxruntime needs a model folder; write one with "
      "python -m flood_jax.export"
    )
  elif workdir_parts is None:
    raise UsageError(
      f"{source}: not a model folder (no model.json); a training workdir is loaded through "
      "flood_jax.load_model or the programs"
    )
  else:
    model = from_workdir(source, workdir_parts)
  return model.with_options(flips=bool(model.config.predict.test_time_flips))


def from_workdir(workdir: str | Path, workdir_parts: Callable) -> TrainedModel:
  """The best checkpoint of a training workdir, on XLA."""
  from flood_jax.models import model_from_config

  config, stats, variables, card = workdir_parts(workdir)
  model = model_from_config(config.model)
  flax = FlaxWeights(lambda: (model, variables))
  return TrainedModel(config, stats, XlaEngine(model, variables), str(workdir), card, flax)


def load_folder(folder: str | Path, engine: str, precision: str, threads: int | None):
  """A model folder, its files checked against their checksums, on `engine`."""
  folder = Path(folder)
  card = model_folder.read_folder(folder)
  config = load_config(card["config"], str(folder / model_folder.MODEL_JSON))
  engine = ("xla" if accelerator_present() else "onnxruntime") if engine == "auto" else engine
  flax = None
  if model_folder.FILES["variables"] in card["files"]:
    flax = FlaxWeights(functools.partial(_folder_weights, folder, config))
  elif engine == "xla":
    raise UsageError(f"{folder}: holds no variables.msgpack, so it runs on onnxruntime only")
  runner = (
    XlaEngine(*flax.pair) if engine == "xla" else _onnx_engine(folder, card, precision, threads)
  )
  return TrainedModel(config, card["stats"], runner, str(folder), card, flax)


def _onnx_engine(folder: Path, card: dict, precision: str, threads: int | None):
  """ONNX Runtime on the folder's int8 or float32 model."""
  has_int8 = model_folder.FILES["int8"] in card["files"]
  precision = ("int8" if has_int8 else "float32") if precision == "auto" else precision
  if precision == "int8" and not has_int8:
    reason = card.get("checks", {}).get("int8", {})
    raise UsageError(f"{folder}: holds no int8 model (export's check: {reason}); use float32")
  return OnnxRuntimeEngine(folder / model_folder.FILES[precision], precision, threads)


def _folder_weights(folder: Path, config: ml_collections.ConfigDict) -> tuple:
  """(Flax module, variables) of a model folder's variables.msgpack."""
  from flood_jax.models import model_from_config

  return model_from_config(config.model), model_folder.read_variables(folder)
