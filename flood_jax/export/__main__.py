"""Exports a trained workdir as a self-contained model folder for fast CPU inference.

    python -m flood_jax.export --workdir=runs/demo --output=models/demo

Writes `model.onnx` (float32, batch norm folded into the convolutions, dynamic batch; the window
size is fixed at `config.predict.tile_size`, because jax2onnx 0.13 cannot express that the
network needs sizes divisible by 2^levels), `model.int8.onnx` (static int8 quantisation with
ONNX Runtime: QDQ, per-channel weights, unsigned activations, ranges from percentiles over
windows of the workdir's training chips), `variables.msgpack` and `model.json`
(`flood_jax.core.model_folder`). The graph is rewritten into ops ONNX Runtime runs fast in int8
(`flood_jax.export.onnx_graph`) before it is quantised.

Export checks itself before it writes anything: the float32 ONNX probabilities must equal the
Flax model's within `FLOAT32_TOLERANCE` on random windows of two batch sizes, else it stops with
the figures. The int8 model's water IoU on the validation chips must be within `INT8_IOU_DROP`
of float32's; where it is not, the int8 model is not written and the card says why, so CPU
inference stays on float32.
"""

from __future__ import annotations

from absl import flags

from flood_jax import cli
from flood_jax.export.exporter import export

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("workdir", None, "Training workdir whose best checkpoint is exported.")
  flags.DEFINE_string("output", None, "Model folder to write (refused if it exists).")
  flags.DEFINE_integer(
    "calibration_windows", 32, "Training windows that calibrate int8.", lower_bound=1
  )
  flags.DEFINE_bool("overwrite", False, "Replace an existing model folder.")


def main() -> None:
  cli.require("workdir", "output")
  card = export(FLAGS.workdir, FLAGS.output, FLAGS.calibration_windows, FLAGS.overwrite)
  int8 = card["checks"]["int8"]
  print(
    f"wrote {FLAGS.output}: float32 within {card['checks']['float32_max_difference']:.1e} "
    f"of Flax; int8 validation IoU {int8['valid_iou_int8']:.4f} against float32 "
    f"{int8['valid_iou_float32']:.4f} ({'kept' if int8['passed'] else 'not kept'})"
  )


if __name__ == "__main__":
  cli.run(define_flags, main)
