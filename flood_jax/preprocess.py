"""Cuts the chips of a dataset root into tiles and computes normalisation statistics.

    python -m flood_jax.preprocess --config=configs/default.py --config.data.root=ROOT --output=DIR

Writes DIR/<split>_<source>/ tile folders (see `flood_jax.dataset.tiles`), DIR/stats.json,
DIR/class_weights.json (balanced class weights from the training pixels, as the notebook saves
them) and DIR/manifest.json. Tiles keep their chip's official split, so no tile of a test or Bolivia chip
is ever in train. The output appears only when complete: everything is written to a temporary
folder beside DIR and renamed at the end.
"""

from __future__ import annotations

import json

from absl import flags
from ml_collections import config_flags

from flood_jax import cli
from flood_jax.training.tile_store import preprocess

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Command-line flags, defined only when run as a program (modules stay importable)."""
  config_flags.DEFINE_config_file(
    "config", "configs/default.py", "Config file (data section used)."
  )
  flags.DEFINE_string("output", None, "Folder to write tiles, stats.json and manifest.json into.")
  flags.DEFINE_bool("overwrite", False, "Replace an existing complete output.")


def main() -> None:
  cli.require("output")
  manifest = preprocess(FLAGS.config, FLAGS.output, FLAGS.overwrite)
  print(
    json.dumps({"tiles": manifest["tiles"], "skipped_chips": manifest["skipped_chips"]}, indent=2)
  )


if __name__ == "__main__":
  cli.run(define_flags, main)
