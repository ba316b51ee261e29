"""How much synthetic chips look like real Sentinel-1, printed and drawn.

    python -m experiments.realism --real_root=../shared/data/sen1floods11/v1.1 \
        --synthetic_root=runs/demo/synthetic/v1.1 --output=docs/synthetic_vs_real.png

compares VV, VH and the engineered bands of water and dry pixels of both roots
(`flood_jax.dataset.realism`) and prints the per-class medians beside the real chips' range.
"""

from __future__ import annotations

import sys

from absl import flags

from flood_jax import cli
from flood_jax.dataset.realism import class_pixels, median_ranges, overall_medians, plot_histograms

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("real_root", None, "Root with real hand-labelled chips.")
  flags.DEFINE_string(
    "synthetic_root", None, "Root with synthetic chips (flood_jax.dataset.synthetic)."
  )
  flags.DEFINE_string("output", "synthetic_vs_real.png", "Histogram figure to write.")


def main() -> None:
  cli.require("real_root", "synthetic_root")
  real, synthetic = class_pixels(FLAGS.real_root), class_pixels(FLAGS.synthetic_root, max_chips=60)
  plot_histograms(real, synthetic, FLAGS.output)
  real_medians, synthetic_medians = overall_medians(real), overall_medians(synthetic)
  ranges = median_ranges(real)
  print("class band   real median  real per-chip range   synthetic median")
  for key in sorted(real_medians):
    print(
      f"{key[0]:5s} {key[1]:4s}  {real_medians[key]:10.1f}   [{ranges[key][0]:6.1f}, {ranges[key][1]:6.1f}]   {synthetic_medians[key]:12.1f}"
    )
  print(f"wrote {FLAGS.output}", file=sys.stderr)


if __name__ == "__main__":
  cli.run(define_flags, main)
