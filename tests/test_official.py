"""The dataset authors' table (Bonafilia et al. 2020, `Test_Models.ipynb`): all, flood and
permanent water apart with JRCWaterHand, total and mean IoU, omission and commission, checked
against counts made by hand."""

import numpy as np
import pytest
import rasterio
from test_cli_errors import assert_clean_error, run
from test_evaluate import _write, threshold_model

from flood_jax.evaluation.chips import evaluate, official_table

VV = np.array(
  [[-20, -20, -5, -5], [-20, -20, -5, -5], [-20, -5, -5, -5], [-20, -20, -20, -5]], np.float32
)
LABEL = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, -1], [1, 1, 0, 0]], np.int16)
COLUMN_0 = np.zeros((4, 4), np.uint8)
COLUMN_0[:, 0] = 1


def _chip(hand, chip_id, vv, label, jrc):
  _write(hand / f"S1Hand/{chip_id}_S1Hand.tif", np.stack([vv, vv - 7], -1), "float32")
  _write(hand / f"LabelHand/{chip_id}_LabelHand.tif", label, "int16")
  _write(hand / f"JRCWaterHand/{chip_id}_JRCWaterHand.tif", jrc, "uint8")


@pytest.fixture
def jrc_root(tmp_path):
  """Four 4x4 test chips (the model: water where VV < -15 dB):
  A: 7 water pixels, the 4 of column 0 permanent; B: A's chip with no permanent water;
  C: no water at all, none predicted; D: only permanent water (column 0), found exactly."""
  hand = tmp_path / "v1.1/data/flood_events/HandLabeled"
  _chip(hand, "A_1", VV, LABEL, COLUMN_0)
  _chip(hand, "B_1", VV, LABEL, np.zeros((4, 4), np.uint8))
  _chip(hand, "C_1", np.full((4, 4), -5, np.float32), np.zeros((4, 4), np.int16), COLUMN_0)
  _chip(hand, "D_1", np.where(COLUMN_0 == 1, -20, -5).astype(np.float32),
        COLUMN_0.astype(np.int16), COLUMN_0)  # fmt: skip
  splits = tmp_path / "v1.1/splits/flood_handlabeled"
  splits.mkdir(parents=True)
  lines = "".join(
    f"{chip}_S1Hand.tif,{chip}_LabelHand.tif\r\n" for chip in ("A_1", "B_1", "C_1", "D_1")
  )
  (splits / "flood_test_data.csv").write_bytes(lines.encode())
  return tmp_path / "v1.1"


def test_the_official_figures_match_a_hand_count(jrc_root, tmp_path):
  """By hand (TP, FP, FN, TN of the model):
  all water:  A (6, 2, 1, 6), B (6, 2, 1, 6), C (0, 0, 0, 16), D (4, 0, 0, 12);
  flood:      A's column 0 ignored (2, 2, 1, 6), B (6, 2, 1, 6), C (0, 0, 0, 16); D left out
              (its water is all permanent);
  permanent:  A's flood water ignored (4, 2, 0, 6), C (0, 0, 0, 16), D (4, 0, 0, 12); B left
              out (no permanent water). A chip with no water in truth nor prediction has IoU 1."""
  summary = evaluate(threshold_model(), "test", jrc_root, tmp_path / "report", num_panels=0,
                     show_progress=False)  # fmt: skip
  official = summary["official"]
  expected = {
    "all": (16 / 22, (6 / 9 + 6 / 9 + 1 + 1) / 4, 2 / 18, 4 / 44, 4),
    "flood": (8 / 14, (2 / 5 + 6 / 9 + 1) / 3, 2 / 10, 4 / 32, 3),
    "permanent": (8 / 10, (4 / 6 + 1 + 1) / 3, 0.0, 2 / 36, 3),
  }
  for subset, (total, mean, omission, commission, chips) in expected.items():
    figures = official[subset]["model"]
    assert figures["total_iou"] == pytest.approx(total), subset
    assert figures["mean_iou"] == pytest.approx(mean), subset
    assert figures["omission"] == pytest.approx(omission), subset
    assert figures["commission"] == pytest.approx(commission), subset
    assert figures["chips"] == chips, subset
  assert official["all"]["fixed_vv_-15db"]["total_iou"] == pytest.approx(16 / 22)
  table = official_table({"test": summary})
  # Flood water: TP 8, FN 2, FP 4, TN 28: water IoU 8/14, dry IoU 28/34, their mean 0.697.
  assert official["flood"]["model"]["two_class_miou"] == pytest.approx((8 / 14 + 28 / 34) / 2)
  assert "| test | flood water | model | 0.571 | 0.697 | 0.689 | 0.200 | 0.125 | 3 |" in table


def test_without_jrc_layers_only_all_water_is_reported(tmp_path):
  hand = tmp_path / "v1.1/data/flood_events/HandLabeled"
  _write(hand / "S1Hand/A_1_S1Hand.tif", np.stack([VV, VV - 7], -1), "float32")
  _write(hand / "LabelHand/A_1_LabelHand.tif", LABEL, "int16")
  splits = tmp_path / "v1.1/splits/flood_handlabeled"
  splits.mkdir(parents=True)
  (splits / "flood_test_data.csv").write_bytes(b"A_1_S1Hand.tif,A_1_LabelHand.tif\r\n")
  summary = evaluate(threshold_model(), "test", tmp_path / "v1.1", tmp_path / "report",
                     num_panels=0, show_progress=False)  # fmt: skip
  assert list(summary["official"]) == ["all"]


def test_synthetic_hand_chips_carry_their_rivers_as_jrc_permanent_water(synthetic_root):
  """The generator's permanent water (its rivers) is each hand chip's JRCWaterHand, on the
  chip's grid, and labelled water wherever the label is valid."""
  layers = sorted((synthetic_root / "data/flood_events/HandLabeled/JRCWaterHand").glob("*.tif"))
  assert len(layers) == 12
  rivers = 0
  for path in layers:
    chip = path.name.replace("_JRCWaterHand.tif", "")
    label_path = path.parents[1] / "LabelHand" / f"{chip}_LabelHand.tif"
    with rasterio.open(path) as jrc, rasterio.open(label_path) as label:
      permanent, labels = jrc.read(1), label.read(1)
      assert jrc.transform == label.transform and jrc.crs == label.crs
    assert set(np.unique(permanent)) <= {0, 1}
    assert (labels[permanent == 1] != 0).all()  # water, or -1 where unlabelled
    rivers += int(permanent.sum())
  assert rivers > 0


def test_protocol_prints_the_table_for_test_bolivia_and_valid(synthetic_root, tmp_path):
  result = run("flood_jax.evaluate", "--model=flood_jax/bundled/demo", f"--data_root={synthetic_root}",
               "--protocol=sen1floods11", f"--output={tmp_path / 'eval'}", "--num_panels=0")  # fmt: skip
  assert result.returncode == 0, result.stderr[-2000:]
  for split in ("test", "bolivia", "valid"):
    assert f"| {split} | all water | model |" in result.stdout
    assert (tmp_path / "eval" / split / "summary.json").exists()
  assert "permanent water" in result.stdout
  assert (tmp_path / "eval" / "official.md").read_text().strip() in result.stdout


def test_a_jrc_layer_on_another_grid_is_one_line(jrc_root, tmp_path):
  path = jrc_root / "data/flood_events/HandLabeled/JRCWaterHand/B_1_JRCWaterHand.tif"
  with rasterio.open(path, "r+") as dataset:
    dataset.transform = dataset.transform @ rasterio.Affine.translation(2, 0)
  result = run("flood_jax.evaluate", "--model=flood_jax/bundled/demo", f"--data_root={jrc_root}",
               f"--output={tmp_path / 'eval'}")  # fmt: skip
  assert result.returncode == 2
  assert_clean_error(result, "B_1_JRCWaterHand.tif", "does not match its image")
  assert not (tmp_path / "eval").exists()
