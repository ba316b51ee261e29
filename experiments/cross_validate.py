"""Cross-validation of real-chip training across sources, and the map rules it chooses.

    python -m experiments.cross_validate [--workdir=runs/cross_validate] [--steps=N]

1. Folds (`evaluation.cross_validation.folds_of`) of the real chips of configs/real.py that have
   a valid pixel: each Sen1Floods11 event, the DFC 2024 chips in three folds of alternate chips (the set names no
   events), TerraMesh's weakly labelled chips as one fold of false-alarm checks.
2. Per fold, configs/real.py's recipe without that fold's chips (`config.data.real_holdout`):
   the synthetic-only model fine-tuned as the bundled model is (200 steps, a quarter of each
   batch real: about 3 minutes a fold on 2 CPU cores; --steps for another schedule). A fold
   already trained in --workdir is not trained again.
3. Each chip's out-of-fold water probability (XLA float32), and the synthetic-only model's.
4. The map rules chosen on them (`choose_rules`), for the real-trained and for the synthetic-only
   model alike, and the tables: pooled (hand-labelled chips), per dataset, per fold, per chip,
   with the synthetic-only model first. Written to <workdir>/cross_validation.json too.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
from absl import app, flags

from configs import real
from flood_jax.api import trained_model
from flood_jax.core.files import write_json
from flood_jax.dataset.catalog import read_record, real_records
from flood_jax.evaluation.cross_validation import ChipData, Scored, choose_rules, folds_of
from flood_jax.mapping.map_rules import MapRule

flags.DEFINE_string("workdir", "runs/cross_validate", "Folder of the folds' runs and the tables.")
flags.DEFINE_integer("steps", None, "Training steps of each fold (default: configs/real.py's).")
flags.DEFINE_integer("parts", 3, "Folds of a hand-labelled set without events (DFC 2024).")
FLAGS = flags.FLAGS

# The synthetic-only model as it shipped: threshold 0.950, VV <= -11 dB, 10,000 m².
SHIPPED = MapRule(threshold=0.95, max_vv_db=-11.0, min_area_m2=10_000.0)


def fold_config(steps: int | None, holdout: tuple[str, ...], store: str):
  config = real.get_config()
  if steps is not None:
    config.num_train_steps = config.eval_every_steps = config.optimizer.first_period = steps
  config.data.real_holdout = holdout
  config.data.preprocessed = store
  return config


def train_folds(folds, workdir: Path, steps: int | None) -> dict[str, Path]:
  """Each fold's workdir, trained where it holds no results.json yet."""
  from flood_jax.training import train

  store = workdir / "tiles"
  train.prepare_data(fold_config(steps, (), str(store)), workdir)
  runs = {}
  for fold in folds:
    runs[fold.name] = workdir / "folds" / re.sub(r"\W+", "_", fold.name).strip("_")
    if not (runs[fold.name] / "results.json").exists():
      print(f"fold {fold.name}: training without {len(fold.chip_ids)} chips", flush=True)
      train.train_and_evaluate(fold_config(steps, fold.chip_ids, str(store)), runs[fold.name])
  return runs


def chip_data(folds, records, models: dict) -> list[ChipData]:
  """Every chip of the folds, its probability from `models[fold name]`."""
  by_id = {record.chip_id: record for record in records}
  chips = []
  for fold in folds:
    model = models[fold.name]
    for chip_id in fold.chip_ids:
      record = by_id[chip_id]
      chip = read_record(record)
      probability = model.predict_array(chip.vv_vh_db)
      chips.append(ChipData(record, fold.name, chip.vv_vh_db, chip.label, chip.validity,
                            probability))  # fmt: skip
  return chips


def rule_words(rule: MapRule) -> str:
  """'threshold 0.50, minimum water patch 10000 m²' (every part of the rule that is set)."""
  return f"threshold {rule.threshold:.2f}{rule.describe()}"


def row(name: str, scored: Scored) -> dict:
  return {"model": name, "rule": rule_words(scored.rule), "pooled": scored.pooled(),
          "datasets": scored.datasets(), "folds": scored.folds(),
          "chips": scored.chip_ious()}  # fmt: skip


def print_tables(rows: list[dict]) -> None:
  datasets = list(rows[0]["datasets"])
  print("\n| model | rule | water IoU | mean IoU | omission | commission | 5%-scene IoU | "
        + " | ".join(f"IoU {name}" for name in datasets) + " |")  # fmt: skip
  print("|---" * (7 + len(datasets)) + "|")
  for entry in rows:
    pooled = entry["pooled"]
    cells = [pooled[key] for key in ("iou", "mean_iou", "omission", "commission", "scene_iou_5pct")]
    cells += [entry["datasets"][name]["iou"] for name in datasets]
    print(f"| {entry['model']} | {entry['rule']} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")
  print("\n| fold | " + " | ".join(entry["model"] for entry in rows) + " |")
  print("|---" * (1 + len(rows)) + "|")
  for fold in rows[0]["folds"]:
    cells = [entry["folds"][fold] for entry in rows]
    print(f"| {fold} | " + " | ".join(
      f"{c['iou']:.3f} (om {c['omission']:.2f}, com {c['commission']:.3f})" for c in cells) + " |")  # fmt: skip
  print("\n| chip | " + " | ".join(entry["model"] for entry in rows) + " |")
  print("|---" * (1 + len(rows)) + "|")
  for chip in rows[0]["chips"]:
    print(f"| {chip} | " + " | ".join(f"{entry['chips'][chip]:.3f}" for entry in rows) + " |")


def main(argv) -> None:
  del argv
  workdir = Path(FLAGS.workdir)
  records = [record for record in real_records(real.get_config().data.real_roots)
             if read_record(record).validity.any()]  # fmt: skip
  folds = folds_of(records, FLAGS.parts)
  runs = train_folds(folds, workdir, FLAGS.steps)
  synthetic = trained_model(real.SYNTHETIC_MODEL, engine="xla")
  base = chip_data(folds, records, dict.fromkeys(runs, synthetic))
  trained = chip_data(folds, records, {name: trained_model(run) for name, run in runs.items()})
  synthetic_rule, synthetic_log = choose_rules(base)
  chosen, log = choose_rules(trained)
  rows = [
    row("synthetic-only, as shipped", Scored(base, SHIPPED)),
    row("synthetic-only, its best rules", Scored(base, synthetic_rule)),
    row("real-trained, threshold 0.5 alone", Scored(trained, MapRule())),
    row("real-trained, chosen rules", Scored(trained, chosen)),
  ]
  print_tables(rows)
  synthetic_test = {name: json.loads((run / "results.json").read_text())["test"]["iou"]
                    for name, run in runs.items()}  # fmt: skip
  print(f"\nChosen rule: {rule_words(chosen)}; synthetic-only: {rule_words(synthetic_rule)}")
  print(f"Synthetic test IoU of the folds' models: {np.mean(list(synthetic_test.values())):.3f}")
  write_json(workdir / "cross_validation.json", {
    "folds": [dataclasses.asdict(fold) for fold in folds], "rows": rows,
    "steps": FLAGS.steps or real.get_config().num_train_steps,
    "chosen": dataclasses.asdict(chosen), "choice": log,
    "synthetic_chosen": dataclasses.asdict(synthetic_rule), "synthetic_choice": synthetic_log,
    "synthetic_test_iou": synthetic_test,
  })  # fmt: skip


if __name__ == "__main__":
  app.run(main)
