"""The flags that choose a model, its engine and its map rules, for the programs that load one.

Only programs (`predict`, `evaluate`) import this: the library below takes these values as
arguments (`mapping.loading.load_trained`, `TrainedModel.with_options`).
"""

from __future__ import annotations

from absl import flags, logging

from flood_jax.api import workdir_parts
from flood_jax.errors import UsageError
from flood_jax.mapping.inference import TrainedModel
from flood_jax.mapping.loading import ENGINES, PRECISIONS, bundled_model, load_trained

FLAGS = flags.FLAGS


def define_model_flags() -> None:
  flags.DEFINE_string(
    "model",
    None,
    "Model folder (flood_jax.export). Default: the bundled demo model, unless --workdir is given.",
  )
  flags.DEFINE_string("workdir", None, "Training workdir holding the best checkpoint.")
  flags.DEFINE_enum(
    "engine", "auto", list(ENGINES), "auto: ONNX Runtime on a CPU with a model folder, else XLA."
  )
  flags.DEFINE_enum(
    "precision",
    "auto",
    list(PRECISIONS),
    "ONNX Runtime's model; auto: int8 where export checked it, else float32.",
  )
  flags.DEFINE_integer(
    "threads", None, "ONNX Runtime threads (default: the available cores).", lower_bound=1
  )
  flags.DEFINE_bool(
    "flips",
    None,
    "Average the model over 4 flips of each window (4x slower; "
    "default: the model's config.predict.test_time_flips).",
  )
  flags.DEFINE_float(
    "min_area_m2",
    None,
    "Water patches smaller than this become dry (default: the model's config.predict.min_area_m2).",
    lower_bound=0.0,
  )
  flags.DEFINE_string(
    "max_water_caps",
    None,
    "Backscatter caps VV,VH in dB: water only where VV <= the first or VH <= the second "
    "('-11,off'; 'off,off' for none; default: the model's config.predict.max_water_*_db).",
  )


def model_source(model: str | None, workdir: str | None) -> str:
  """--model or --workdir, else the model bundled with the package."""
  if model and workdir:
    raise UsageError("--model and --workdir both name a model; give one")
  source = model or workdir
  if source is None:
    source = str(bundled_model())
    logging.info("No --model or --workdir: using the bundled demo model %s", source)
  return source


def model_from_flags(
  threads: int | None = None, engine: str | None = None, precision: str | None = None
) -> TrainedModel:
  """The model the flags name, with their options; `engine` and `precision` replace the
  flags' (evaluate --engines)."""
  model = load_trained(
    model_source(FLAGS.model, FLAGS.workdir),
    engine or FLAGS.engine,
    precision or FLAGS.precision,
    FLAGS.threads or threads,
    workdir_parts,
  )
  return model.with_options(FLAGS.flips, FLAGS.min_area_m2, parse_water_caps(FLAGS.max_water_caps))


def parse_water_caps(text: str | None) -> tuple[float | None, float | None] | None:
  """--max_water_caps=VV,VH ('off' for none on a band) as (VV, VH); None when not given."""
  if text is None:
    return None
  parts = [part.strip().lower() for part in text.split(",")]
  try:
    if len(parts) != 2:
      raise ValueError
    return tuple(None if part == "off" else float(part) for part in parts)
  except ValueError:
    raise UsageError(
      f"--max_water_caps={text}: expected VV,VH in dB or 'off', e.g. -11,off"
    ) from None
