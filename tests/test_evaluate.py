"""Evaluation reports: hand-checkable counts, baselines, files, real chips."""

import csv
import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from configs import test as test_config
from flood_jax.api import trained_model
from flood_jax.core import baselines
from flood_jax.core.metrics import confusion_matrix
from flood_jax.evaluation.chips import evaluate, format_table
from flood_jax.mapping.inference import TrainedModel


class ThresholdEngine:
  """A stand-in engine whose prediction is known: water where VV < -15 dB (with unit
  normalisation, the first input band is VV itself)."""

  name, precision = "threshold", "float32"

  def __call__(self, images):
    return (images[..., 0] < -15).astype(np.float32)


def threshold_model():
  stats = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
  return TrainedModel(test_config.get_config(), stats, ThresholdEngine(), source="threshold")


def _write(path, array, dtype):
  path.parent.mkdir(parents=True, exist_ok=True)
  bands = array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)
  with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2], count=bands.shape[0],
                     dtype=dtype, crs="EPSG:32633", transform=from_origin(0, 0, 10, 10)) as dataset:  # fmt: skip
    dataset.write(bands.astype(dtype))


@pytest.fixture
def tiny_root(tmp_path):
  """Two 4x4 test chips with known labels and VV."""
  hand = tmp_path / "v1.1/data/flood_events/HandLabeled"
  vv = np.array(
    [[-20, -20, -5, -5], [-20, -20, -5, -5], [-20, -5, -5, -5], [-20, -20, -20, -5]], np.float32
  )
  label = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, -1], [1, 1, 0, 0]], np.int16)
  _write(hand / "S1Hand/A_1_S1Hand.tif", np.stack([vv, vv - 7], -1), "float32")
  _write(hand / "LabelHand/A_1_LabelHand.tif", label, "int16")
  _write(hand / "S1Hand/A_2_S1Hand.tif", np.full((4, 4, 2), np.nan, np.float32), "float32")
  _write(hand / "LabelHand/A_2_LabelHand.tif", label, "int16")
  splits = tmp_path / "v1.1/splits/flood_handlabeled"
  splits.mkdir(parents=True)
  (splits / "flood_test_data.csv").write_bytes(
    b"A_1_S1Hand.tif,A_1_LabelHand.tif\r\nA_2_S1Hand.tif,A_2_LabelHand.tif\r\n"
  )
  return tmp_path / "v1.1", vv, label


def test_counts_by_hand(tiny_root, tmp_path):
  root, vv, label = tiny_root
  summary = evaluate(
    threshold_model(), "test", root, tmp_path / "report", num_panels=0, show_progress=False
  )
  rows = list(csv.DictReader((tmp_path / "report" / "per_image.csv").open()))
  assert [row["chip_id"] for row in rows] == ["A_1"]
  # valid: 15 pixels (one -1). Predicted water: VV < -15 -> 8 pixels, all valid.
  # truth water: 7 pixels; TP = 6, FP = 2 ((1,1) and (3,2)), FN = 1 ((2,1)), TN = 6.
  row = rows[0]
  assert (int(row["tp"]), int(row["fp"]), int(row["fn"]), int(row["tn"])) == (6, 2, 1, 6)
  assert float(row["iou"]) == pytest.approx(6 / 9)
  assert summary["model"]["overall"]["iou"] == pytest.approx(6 / 9)
  assert summary["model"]["overall"]["omission"] == pytest.approx(1 / 7)
  assert summary["model"]["overall"]["commission"] == pytest.approx(2 / 8)
  assert float(row["omission"]) == pytest.approx(1 / 7)
  assert summary["model"]["mean_chip_iou"] == pytest.approx(6 / 9)
  assert summary["fixed_vv_-15db"]["overall"]["iou"] == pytest.approx(6 / 9)
  assert summary["skipped"] == [{"chip_id": "A_2", "source": "hand", "reason": "image all NaN"}]
  saved = json.loads((tmp_path / "report" / "summary.json").read_text())
  assert saved["model"]["confusion"] == [[6, 2], [1, 6]]
  assert (tmp_path / "report" / "confusion_model.png").exists()
  assert "| model |" in format_table(summary) and "2-class mIoU" in format_table(summary)
  assert summary["model"]["overall"]["mean_iou"] == pytest.approx((6 / 9 + 6 / 9) / 2)


def test_otsu_baseline_by_hand():
  vv = np.array([[-20.0, -21.0, -5.0, -6.0]])
  validity = np.array([[True, True, True, False]])
  water = baselines.otsu_water(vv, validity)
  np.testing.assert_array_equal(water, [[True, True, False, False]])
  matrix = confusion_matrix(np.array([[1, 0, 0, 1]]), water, validity)
  np.testing.assert_array_equal(matrix, [[1, 1], [0, 1]])


def test_report_with_a_trained_model_writes_panels_and_gradcam(trained_workdir, tmp_path):
  from flood_jax.training.restore import training_data_root

  model = trained_model(trained_workdir)
  root = training_data_root(trained_workdir, model.config)
  summary = evaluate(
    model, "test", root, tmp_path, num_panels=1, show_progress=False, gradcam_layer="encoder_0"
  )
  assert summary["num_chips"] > 0
  assert len(list((tmp_path / "panels").glob("*.png"))) == 1
  assert len(list((tmp_path / "gradcam").glob("*.png"))) == 1
  for method in ("model", "otsu_vv", "fixed_vv_-15db"):
    assert 0 <= summary[method]["overall"]["iou"] <= 1


def test_real_chips_skip_empty_ones_and_score_baselines(trained_workdir, real_root, tmp_path):
  model = trained_model(trained_workdir)
  summary = evaluate(model, "test", real_root, tmp_path, num_panels=0, show_progress=False)
  assert {chip["chip_id"] for chip in summary["skipped"]} == {"Ghana_83483", "Paraguay_34417"}
  assert summary["num_chips"] == 5
  # The classical anchors quoted for these seven chips: Otsu about 0.32, -15 dB about 0.41.
  assert summary["otsu_vv"]["overall"]["iou"] == pytest.approx(0.32, abs=0.01)
  assert summary["fixed_vv_-15db"]["overall"]["iou"] == pytest.approx(0.41, abs=0.01)


class ChipCounter:
  """An evaluator from outside evaluate(): counts the chips it is given."""

  def __init__(self):
    self.count = 0

  def add(self, result):
    self.count += 1

  def results(self):
    yield "chips_counted", self.count


def test_evaluators_return_values_and_more_can_be_given(tiny_root, tmp_path):
  """The evaluators write nothing (the report does); evaluate() takes evaluators beside its own
  and their results join the summary; a skipped chip is reported, not fed to them."""
  from flood_jax.dataset.catalog import build_catalog
  from flood_jax.evaluation.chips import chip_results, run_evaluators
  from flood_jax.evaluation.evaluators import PerImage, Samples, Scores

  root, _, _ = tiny_root
  records = build_catalog(root, ("test",))
  counter = ChipCounter()
  results = run_evaluators(
    chip_results(threshold_model(), records), [Scores(), PerImage(), Samples(1, 0), counter]
  )
  assert counter.count == 1 and len(results["per_image"]) == 1
  assert [row["chip_id"] for row in results["skipped"]] == ["A_2"]
  assert results["chips_counted"] == 1 and len(results["samples"]) == 1
  assert not any(tmp_path.glob("*.png")) and not any(tmp_path.glob("*.csv"))
  summary = evaluate(threshold_model(), "test", root, tmp_path / "report", num_panels=1,
                     show_progress=False, evaluators=[ChipCounter()])  # fmt: skip
  assert summary["chips_counted"] == 1
  assert (tmp_path / "report" / "panels" / "A_1.png").exists()
