"""Flood maps of whole Sentinel-1 scenes: `python -m flood_jax.predict --workdir=W --input=SCENE.tif --output=FLOOD.tif`.

The input is a GeoTIFF of any size with two bands, VV and VH in dB (a Sen1Floods11 chip or a
whole scene); a folder of them is accepted too (then --output is a folder). Overlapping windows
are predicted in batches and blended with smooth weights, strip by strip, so memory is bounded by
one strip whatever the scene size. The output is a Cloud Optimized GeoTIFF with the input's CRS
and transform: uint8, 1 water, 0 dry, 255 no data; `--probability` also writes the water
probability (float32, NaN where no data).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from absl import flags, logging
from tqdm import tqdm

from flood_jax import cli
from flood_jax.data.scene import (
  FLOOD_NODATA,
  SceneReader,
  StripWriter,
  bounded_gdal_cache,
  check_output_path,
)
from flood_jax.errors import DataError, UsageError
from flood_jax.inference import TrainedModel
from flood_jax.windows import window_starts


def predict_scene(*args, **kwargs) -> dict:
  """Maps one scene (see `_predict_scene`) with GDAL's cache bounded, so memory stays flat."""
  with bounded_gdal_cache():
    return _predict_scene(*args, **kwargs)


def _predict_scene(
  model: TrainedModel,
  input_path: str | Path,
  output_path: str | Path,
  probability_path: str | Path | None = None,
  tile_size: int | None = None,
  overlap: int | None = None,
  batch_size: int | None = None,
  show_progress: bool = True,
) -> dict:
  """Maps one scene; returns {"water_fraction", "valid_pixels", "windows"}."""
  tiling = model.tiling(tile_size, overlap, batch_size)
  tile_size, overlap, batch_size = tiling
  output_path = check_output_path(output_path)
  if probability_path:
    probability_path = check_output_path(probability_path)
  reader = SceneReader(input_path)
  height, width = reader.height, reader.width
  windows = len(window_starts(height, tile_size, overlap)) * len(
    window_starts(width, tile_size, overlap)
  )
  writers = [StripWriter(output_path, reader.profile, "uint8", FLOOD_NODATA)]
  if probability_path:
    writers.append(StripWriter(Path(probability_path), reader.profile, "float32", float("nan")))
  water_pixels = valid_pixels = 0
  progress = tqdm(
    total=windows,
    desc=f"predict {Path(input_path).name}",
    unit="tile",
    disable=not show_progress,
    file=sys.stderr,
  )
  try:
    rows = model.blended_rows(reader.read_rows, height, width, tiling, progress.update)
    for top, probability, valid in rows:
      flood = np.where(valid, (probability > model.threshold).astype(np.uint8), FLOOD_NODATA)
      writers[0].write_rows(top, flood.astype(np.uint8))
      if len(writers) > 1:
        writers[1].write_rows(top, np.where(valid, probability, np.nan).astype(np.float32))
      water_pixels += int(np.sum(flood == 1))
      valid_pixels += int(np.sum(valid))
    for writer in writers:
      writer.finish()
  except BaseException:
    for writer in writers:
      writer.abort()
    raise
  finally:
    progress.close()
    reader.close()
  if valid_pixels == 0:
    logging.warning("%s: every pixel is no data; wrote an all-%d map", input_path, FLOOD_NODATA)
  return {
    "water_fraction": water_pixels / valid_pixels if valid_pixels else float("nan"),
    "valid_pixels": valid_pixels,
    "windows": windows,
  }


FLAGS = flags.FLAGS


def define_flags() -> None:
  TrainedModel.define_flags()
  flags.DEFINE_string("input", None, "GeoTIFF (VV, VH in dB) or a folder of them.")
  flags.DEFINE_string("output", None, "Output flood map (.tif), or a folder when --input is one.")
  flags.DEFINE_bool(
    "probability", False, "Also write the water probability beside each map (*_probability.tif)."
  )
  flags.DEFINE_integer("tile_size", None, "Window size (default: config.predict.tile_size).")
  flags.DEFINE_integer(
    "overlap", None, "Window overlap in pixels (default: config.predict.overlap)."
  )
  flags.DEFINE_integer(
    "batch_size", None, "Windows per batch (default: config.predict.batch_size)."
  )


def main() -> None:
  cli.require("input", "output")
  input_path, output_path = Path(FLAGS.input), Path(FLAGS.output)
  if not input_path.exists():
    raise UsageError(f"{input_path}: input not found")
  if input_path.is_dir():
    jobs = [
      (path, output_path / f"{path.stem}_flood.tif") for path in sorted(input_path.glob("*.tif"))
    ]
    if not jobs:
      raise DataError(f"{input_path}: folder holds no .tif file")
    output_path.mkdir(parents=True, exist_ok=True)
  else:
    jobs = [(input_path, output_path)]
  model = TrainedModel.from_flags()
  for source, target in jobs:
    probability = target.with_name(f"{target.stem}_probability.tif") if FLAGS.probability else None
    summary = predict_scene(
      model, source, target, probability, FLAGS.tile_size, FLAGS.overlap, FLAGS.batch_size
    )
    print(
      f"{target}: water {summary['water_fraction']:.2%} of {summary['valid_pixels']:,} valid pixels"
    )


if __name__ == "__main__":
  cli.run(define_flags, main)
