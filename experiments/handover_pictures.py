"""The pictures (docs/responder.md) of what a responder hands on, from the real chip India_900498 of
`../shared` and the bundled model: the flood report (a headless Chromium screenshot), and a
flood's course over three acquisitions made from that chip with the flood receding (its water
dried on the left third, then on the left two thirds, as the tests make it).

    python -m experiments.handover_pictures [--output=docs]

Needs Debian's chromium for the screenshots. Writes docs/report_india_900498.png,
docs/course_area.png and docs/course_report.png.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import rasterio

import flood_jax

PROJECT = Path(__file__).resolve().parents[1]
CHIP = (
  PROJECT.parent / "shared/data/sen1floods11/v1.1/data/flood_events/HandLabeled/S1Hand"
  / "India_900498_S1Hand.tif"
)  # fmt: skip
TIMES = ("2016-08-01T11:50:00Z", "2016-08-13T11:50:00Z", "2016-08-25T11:50:00Z")


def find_chromium() -> str | None:
  return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, png: Path, height: int, chromium: str | None = None) -> None:
  """`page` as headless Chromium draws it at 1,280 px wide, every network request sent
  nowhere (a dead proxy, every host unresolved)."""
  chromium = chromium or find_chromium()
  subprocess.run(
    [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
     "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
     f"--window-size=1280,{height}", f"--screenshot={png}", page.resolve().as_uri()],
    check=True, capture_output=True, timeout=120,
  )  # fmt: skip


def receding_scenes(chip: Path, folder: Path, names: list[str]) -> list[Path]:
  """One scene per name made from `chip`, the flood receding: the chip, then its water dried
  (VV -8 dB, VH -15 dB: above the bundled model's cap) on the left third, then on the left two
  thirds, ... Written as FOLDER/<name>.tif."""
  with rasterio.open(chip) as dataset:
    profile, bands = dataset.profile, dataset.read()
  width, scenes = bands.shape[2], []
  for index, name in enumerate(names):
    dried = bands.copy()
    dried[0, :, : index * width // 3], dried[1, :, : index * width // 3] = -8.0, -15.0
    scenes.append(folder / f"{name}.tif")
    with rasterio.open(scenes[-1], "w", **profile) as dataset:
      dataset.write(dried)
  return scenes


def receding_maps(folder: Path) -> Path:
  """Three maps of the chip, its water dried on 0, 1/3 and 2/3 of its width."""
  maps = folder / "maps"
  maps.mkdir()
  names = [f"scene_{index}" for index in range(len(TIMES))]
  for index, (scene, acquired) in enumerate(zip(receding_scenes(CHIP, folder, names), TIMES,
                                                strict=True)):  # fmt: skip
    flood_jax.map_scene(scene, maps / f"india_{index}.tif", acquired=acquired)
  return maps


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--output", default=str(PROJECT / "docs"))
  output = Path(parser.parse_args().output)
  with tempfile.TemporaryDirectory() as scratch:
    scratch = Path(scratch)
    report = scratch / "report.html"
    summary = flood_jax.map_scene(CHIP, scratch / "flood.tif", report=report)
    screenshot(report, output / "report_india_900498.png", 2000)
    course = flood_jax.map_course(receding_maps(scratch), scratch / "course", show_progress=False)
    shutil.copy(scratch / "course" / "area.png", output / "course_area.png")
    screenshot(scratch / "course" / "course.html", output / "course_report.png", 1900)
  print(f"report: water {summary['water_km2']:.3f} km²; course: {course['acquisitions']} "
        f"acquisitions, largest flood water {course['max_flood_km2']:.3f} km²")  # fmt: skip


if __name__ == "__main__":
  main()
