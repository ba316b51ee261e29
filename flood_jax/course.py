"""A flood's course over several acquisitions of one area.

    python -m flood_jax.course --maps=MAPS_FOLDER --output=COURSE_FOLDER
    python -m flood_jax.course --input=SCENES --output=COURSE_FOLDER [--workers=N | --scheduler=URL]

The first reads the flood maps `predict` wrote into one folder; the second maps a list of scenes
(a folder, a .txt list or a STAC ItemCollection, with every flag `predict` takes for one) into
COURSE_FOLDER/maps, serially or on Dask, and then follows them. Each map needs its acquisition
time (from the product, or `--acquired` when it was mapped) and must cover at least half of the
first one's area. Writes `max_extent.tif`, `flood_count.tif`, `first_flooded.tif`,
`last_flooded.tif`, `area.csv`, `area.png` and `course.html` (see `flood_jax.products.flood_course`):
all of them or, on an error, none.
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from flood_jax import cli, predict
from flood_jax.errors import UsageError
from flood_jax.products import batch
from flood_jax.products.flood_course import map_course

FLAGS = flags.FLAGS


def define_flags() -> None:
  predict.define_flags()  # --input, --output, the model's and the mapping's flags
  flags.adopt_module_key_flags(predict)  # --help lists them with these
  FLAGS["output"].help = (
    "Folder of the course (max_extent.tif, flood_count.tif, first/last_flooded.tif, area.csv, "
    "area.png, course.html; with --input, the maps in FOLDER/maps)."
  )
  flags.DEFINE_string(
    "maps", None, "Folder of flood maps of one area that flood_jax.predict wrote (not --input)."
  )


def maps_of_scenes(folder: Path) -> Path:
  """--input's scenes mapped into FOLDER/maps (completed maps are kept: a rerun resumes)."""
  if not batch.is_scene_list(FLAGS.input):
    raise UsageError(
      f"--input={FLAGS.input}: a course needs several scenes (a folder, a .txt list or a STAC "
      "ItemCollection), or --maps=FOLDER of maps already made"
    )
  maps = folder / "maps"
  batch.check_output_folder(maps)
  predict.scene_list(predict.load_model(), maps)
  return maps


def main() -> None:
  cli.require("output")
  if FLAGS.input and FLAGS.maps:
    raise UsageError("give --maps (maps already made) or --input (scenes to map), not both")
  folder = Path(FLAGS.output)
  area = predict.area_from_flags()  # a bad area of interest: one line before any work
  maps = maps_of_scenes(folder) if FLAGS.input else FLAGS.maps
  if maps is None:
    raise UsageError("--maps (a folder of flood maps) or --input (scenes to map) is required")
  summary = map_course(maps, folder, overwrite=FLAGS.overwrite, aoi=area)
  print(
    f"{folder}: {summary['acquisitions']} acquisitions, {summary['first']} to {summary['last']}; "
    f"largest flood water {summary['max_flood_km2']:.3f} km²"
  )


if __name__ == "__main__":
  cli.run(define_flags, main)
