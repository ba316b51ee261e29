"""Runs a sweep (a list of config + overrides in experiments/) and collects its results.

    python experiments/run_sweep.py --sweep=experiments/ablation_models.py --root=runs/models \
        [--override=--config.data.root=/data/v1.1] [--collect_only]

Each run is `python -m flood_jax.main` in `<root>/<name>`; a finished or interrupted run resumes
from its checkpoints, so the command can be repeated after a crash. At the end every
`results.json` is gathered into `<root>/results.csv` and `<root>/results.md`.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
COLUMNS = [
  ("valid", "iou"),
  ("test", "iou"),
  ("test", "mean_iou"),
  ("test", "f1"),
  ("bolivia", "iou"),
]


def load_sweep(path: str) -> list[dict]:
  spec = importlib.util.spec_from_file_location("sweep", path)
  module = importlib.util.module_from_spec(spec)
  sys.path.insert(0, str(PROJECT))
  spec.loader.exec_module(module)
  return module.SWEEP


def collect(root: Path, sweep: list[dict]) -> list[dict]:
  rows = []
  for run in sweep:
    results_path = root / run["name"] / "results.json"
    row = {"name": run["name"], "config": run["config"], "overrides": " ".join(run["overrides"])}
    if results_path.exists():
      results = json.loads(results_path.read_text())
      for split, metric in COLUMNS:
        value = results.get(split, {}).get(metric)
        row[f"{split}_{metric}"] = "" if value is None else f"{value:.4f}"
    rows.append(row)
  fields = ["name", *[f"{split}_{metric}" for split, metric in COLUMNS], "config", "overrides"]
  with (root / "results.csv").open("w", newline="") as file:
    writer = csv.DictWriter(file, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
  header = "| run | " + " | ".join(f"{split} {metric}" for split, metric in COLUMNS) + " |"
  lines = [header, "|---" * (len(COLUMNS) + 1) + "|"]
  for row in rows:
    lines.append(
      f"| {row['name']} | " + " | ".join(row.get(f"{s}_{m}", "") or "-" for s, m in COLUMNS) + " |"
    )
  (root / "results.md").write_text("\n".join(lines) + "\n")
  return rows


def main() -> None:
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--sweep", required=True, help="Python file defining SWEEP.")
  parser.add_argument("--root", required=True, help="Folder holding one workdir per run.")
  parser.add_argument("--override", action="append", default=[], help="Flag passed to every run.")
  parser.add_argument("--collect_only", action="store_true", help="Only gather existing results.")
  args = parser.parse_args()
  root = Path(args.root)
  root.mkdir(parents=True, exist_ok=True)
  sweep = load_sweep(args.sweep)
  if not args.collect_only:
    for run in sweep:
      command = [sys.executable, "-m", "flood_jax.main", f"--config={run['config']}", f"--workdir={root / run['name']}",
                 *run["overrides"], *args.override]  # fmt: skip
      print("running:", " ".join(command), flush=True)
      subprocess.run(command, cwd=PROJECT, check=True)
  collect(root, sweep)
  print((root / "results.md").read_text())


if __name__ == "__main__":
  main()
