"""Evaluation reports of a trained model on whole chips, beside classical baselines.

    python -m flood_jax.evaluate --workdir=W --split=test [--data_root=ROOT]
    python -m flood_jax.evaluate --model=MODEL_DIR --data_root=ROOT --engines=xla,onnxruntime:int8
    python -m flood_jax.evaluate --workdir=W --protocol=sen1floods11

Writes W/eval/<split>/ (or --output):
  per_image.csv   one row per chip: id, source, valid pixels, TP/FP/FN/TN and scores
  summary.json    the official Sen1Floods11 figures from summed confusion matrices (water IoU,
                  omission, commission, and the mean of per-chip IoUs), overall and per source
                  (hand/weak), for the model, Otsu thresholding of VV per chip and a fixed -15 dB
                  VV threshold, plus the chips skipped for having no valid pixel
  confusion_<method>.png, panels/<chip>.png (seeded sample per source) and
  gradcam/<chip>.png (Grad-CAM++ of the model on the same chips)

Every report also holds the dataset authors' figures (`official` in summary.json: all water and,
with JRCWaterHand layers, flood and permanent water apart; total and mean IoU, omission,
commission), printed as their table; `--protocol=sen1floods11` evaluates test, Bolivia and valid
(a report each in <output>/<split>, default W/eval/sen1floods11) and prints the three together.

Chips are predicted whole through the same blended tiling as `flood_jax.predict`; the scoring,
tables and figures are the evaluators of `flood_jax.evaluation.evaluators`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable
from pathlib import Path

import ml_collections
from absl import flags

from flood_jax import cli, model_flags
from flood_jax.core.files import atomic_path, write_json
from flood_jax.dataset.catalog import SPLITS
from flood_jax.errors import UsageError
from flood_jax.evaluation.chips import (
  engine_comparison,
  engine_specs,
  evaluate,
  format_table,
  official_table,
)
from flood_jax.evaluation.registry import evaluators_from
from flood_jax.mapping.inference import TrainedModel
from flood_jax.model_flags import define_model_flags, model_from_flags
from flood_jax.training.restore import training_data_root

FLAGS = flags.FLAGS


def define_flags() -> None:
  define_model_flags()
  flags.adopt_module_key_flags(model_flags)  # --help lists the model's flags with these
  flags.DEFINE_enum("split", "test", list(SPLITS), "Split to evaluate.")
  flags.DEFINE_enum(
    "protocol",
    "split",
    ["split", "sen1floods11"],
    "split: the --split alone; sen1floods11: the dataset authors' table over the test, Bolivia "
    "and valid splits.",
  )
  flags.DEFINE_string(
    "data_root", None, "Dataset root (default: the run's config, or its synthetic data)."
  )
  flags.DEFINE_string("output", None, "Report folder (default: <workdir>/eval/<split>).")
  flags.DEFINE_integer(
    "num_panels",
    None,
    "Sample panels per source (default: config.evaluate.num_panels).",
    lower_bound=0,
  )
  flags.DEFINE_integer("seed", 0, "Seed of the choice of sample chips.")
  flags.DEFINE_list(
    "engines",
    None,
    "Evaluate the model on each of these, e.g. xla,onnxruntime:int8: a report per engine "
    "in <output>/<engine>_<precision>, and their figures side by side.",
  )
  flags.DEFINE_string(
    "evals",
    None,
    'Evaluators to run beside the report\'s, as JSON {"NAME": {"type": TYPE, ...options}} '
    "(flood_jax.evaluation.registry; default: the model config's evals).",
  )
  flags.DEFINE_string(
    "gradcam_layer",
    None,
    "Block for Grad-CAM++: encoder_<i>, bottleneck or decoder_<i> (default: last decoder).",
  )


def compare_engines(models: Iterable[TrainedModel], data_root: str | Path, output: Path) -> None:
  """--engines: the model evaluated on each engine, a report each, the figures side by side."""
  summaries = {}
  for model in models:
    name = f"{model.engine.name} {model.engine.precision}"
    print(f"model: {model.describe()}")
    folder = output / name.replace(" ", "_")
    summaries[name] = evaluate(
      model,
      FLAGS.split,
      data_root,
      folder,
      FLAGS.num_panels,
      FLAGS.seed,
      gradcam_layer=FLAGS.gradcam_layer,
    )
  write_json(output / "engines.json", summaries)
  print(engine_comparison(summaries))


PROTOCOL_SPLITS = ("test", "bolivia", "valid")


def evaluate_protocol(model: TrainedModel, data_root: str | Path) -> None:
  """--protocol=sen1floods11: a report per split and the authors' table of all of them."""
  output = Path(FLAGS.output or (Path(FLAGS.workdir or ".") / "eval" / "sen1floods11"))
  print(f"model: {model.describe()}")
  summaries = {}
  for split in PROTOCOL_SPLITS:
    summaries[split] = evaluate(
      model, split, data_root, output / split, FLAGS.num_panels, FLAGS.seed,
      gradcam_layer=FLAGS.gradcam_layer,
    )  # fmt: skip
  table = official_table(summaries)
  with atomic_path(output / "official.md") as partial:
    partial.write_text(table + "\n")
  print(table)


def with_evals(model: TrainedModel, text: str | None) -> TrainedModel:
  """The model with --evals (JSON) as its config's evaluators, checked before any chip is read."""
  if text is None:
    return model
  try:
    evals = json.loads(text)
  except ValueError as error:
    raise UsageError(f"--evals={text}: not JSON ({error})") from None
  if not isinstance(evals, dict):
    raise UsageError(f'--evals={text}: expected {{"NAME": {{"type": ...}}, ...}}')
  evaluators_from(evals)
  config = ml_collections.ConfigDict({**model.config.to_dict(), "evals": evals})
  return dataclasses.replace(model, config=config)


def main() -> None:
  specs = engine_specs(FLAGS.engines or []) or [(None, None)]  # a typo stops before any load
  # One engine's model at a time; the first also gives the config (a workdir's data root).
  models = (with_evals(model_from_flags(engine=engine, precision=precision), FLAGS.evals)
            for engine, precision in specs)  # fmt: skip
  model = next(models)
  if not FLAGS.data_root and not FLAGS.workdir:
    raise UsageError("--data_root is required with a model folder (a workdir knows its data)")
  data_root = FLAGS.data_root or training_data_root(Path(FLAGS.workdir), model.config)
  if FLAGS.protocol == "sen1floods11":
    evaluate_protocol(model, data_root)
    return
  output = FLAGS.output or (Path(FLAGS.workdir or ".") / "eval" / FLAGS.split)
  if FLAGS.engines:
    compare_engines(itertools.chain([model], models), data_root, Path(output))
    return
  print(f"model: {model.describe()}")
  summary = evaluate(
    model,
    FLAGS.split,
    data_root,
    output,
    FLAGS.num_panels,
    FLAGS.seed,
    gradcam_layer=FLAGS.gradcam_layer,
  )
  print(format_table(summary))
  print(official_table({FLAGS.split: summary}))
  print(json.dumps({"num_chips": summary["num_chips"], "skipped": summary["skipped"]}))


if __name__ == "__main__":
  cli.run(define_flags, main)
