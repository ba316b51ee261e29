"""Writes a synthetic Sen1Floods11 root (hand and weak chips, labels, splits) to train or test on.

    python -m flood_jax.synthesize --output=data/synthetic/v1.1 [--num_hand=40 --num_weak=40]
    python -m flood_jax.synthesize --output=data/full/v1.1 --official_sizes   # 446 + 4,385 chips

The same seed writes the same bytes; see `flood_jax.dataset.synthetic` for what the chips hold.
"""

from __future__ import annotations

from absl import flags

from flood_jax import cli
from flood_jax.dataset.synthetic import (
  OFFICIAL_SPLIT_SIZES,
  OFFICIAL_WEAK_CHIPS,
  generate_dataset,
)

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
  flags.DEFINE_bool(
    "official_sizes",
    False,
    "The real dataset's sizes: train 252, valid 89, test 90, Bolivia 15 hand chips and 4,385 "
    "weak chips (about 8.4 GB); --num_hand and --num_weak are then ignored.",
  )


def main() -> None:
  cli.require("output")
  if FLAGS.official_sizes:
    sizes, num_weak = OFFICIAL_SPLIT_SIZES, OFFICIAL_WEAK_CHIPS
  else:
    sizes, num_weak = None, FLAGS.num_weak
  root = generate_dataset(FLAGS.output, FLAGS.num_hand, num_weak, FLAGS.seed, split_sizes=sizes)
  print(f"wrote synthetic Sen1Floods11 root to {root}")


if __name__ == "__main__":
  cli.run(define_flags, main)
