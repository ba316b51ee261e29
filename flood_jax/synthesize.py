"""Writes a synthetic Sen1Floods11 root (hand and weak chips, labels, splits) to train or test on.

    python -m flood_jax.synthesize --output=data/synthetic/v1.1 [--num_hand=40 --num_weak=40]

The same seed writes the same bytes; see `flood_jax.dataset.synthetic` for what the chips hold.
"""

from __future__ import annotations

from absl import flags

from flood_jax import cli
from flood_jax.dataset.synthetic import generate_dataset

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("output", None, "Folder to write the dataset root into.")
  flags.DEFINE_integer(
    "num_hand", 40, "Hand-labelled chips (split 10% Bolivia, then 60/20/20).", lower_bound=1
  )
  flags.DEFINE_integer(
    "num_weak", 40, "Weakly (Otsu) labelled chips, training only.", lower_bound=0
  )
  flags.DEFINE_integer("seed", 0, "Random seed; the same seed writes the same bytes.")


def main() -> None:
  cli.require("output")
  root = generate_dataset(FLAGS.output, FLAGS.num_hand, FLAGS.num_weak, FLAGS.seed)
  print(f"wrote synthetic Sen1Floods11 root to {root}")


if __name__ == "__main__":
  cli.run(define_flags, main)
