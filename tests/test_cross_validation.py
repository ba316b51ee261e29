"""Cross-validation across real chips: the fold split, the map rules' scores and the choice of
each rule (kept only where the pooled 5%-scene IoU rises and no dataset's water IoU falls)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from flood_jax.dataset.records import ChipRecord
from flood_jax.evaluation.cross_validation import ChipData, Scored, choose_rules, folds_of
from flood_jax.mapping.map_rules import MapRule, scene_split_cap
from tests.conftest import shared_set


def test_folds_by_event_alternate_parts_and_one_weak_fold(real_root):
  from flood_jax.dataset.catalog import real_records

  records = real_records([real_root, shared_set("dfc2024"), shared_set("terramesh")])
  folds = {fold.name: fold.chip_ids for fold in folds_of(records, parts=3)}
  assert folds["sen1floods11 India"] == ("India_900498",)
  assert set(folds["sen1floods11 Ghana"]) == {"Ghana_53713", "Ghana_83483", "Ghana_97059"}
  assert folds["dfc2024 part 1 of 3"] == ("dfc2024_0", "dfc2024_3", "dfc2024_6", "dfc2024_9")
  assert len(folds["terramesh all"]) == 5
  every = [chip for chips in folds.values() for chip in chips]
  assert sorted(every) == sorted(record.chip_id for record in records)  # each chip once


def _record(chip_id, dataset, source="hand", event=None):
  return ChipRecord(chip_id, source, "test", Path(f"{chip_id}.tif"), Path("label.tif"),
                    dataset=dataset, event=event)  # fmt: skip


def test_sets_without_events_fold_in_parts_and_weak_sets_whole():
  records = [_record(f"c{index}", "mine") for index in range(5)]
  records += [_record(f"w{index}", "weak set", "weak") for index in range(2)]
  folds = {fold.name: fold.chip_ids for fold in folds_of(records, parts=2)}
  assert folds == {"mine part 1 of 2": ("c0", "c2", "c4"), "mine part 2 of 2": ("c1", "c3"),
                   "weak set all": ("w0", "w1")}  # fmt: skip


def _chip(chip_id, dataset, rng, bright_false_alarm=False, water_db=-20.0):
  """64 x 64: water on the left half (VV `water_db`), dry on the right (-9 dB); the model is
  sure of the water, and of a bright false alarm (-6 dB) in the top right where asked."""
  vv = np.where(np.arange(64) < 32, water_db, -9.0)[None, :].repeat(64, 0) + rng.normal(
    0, 1, (64, 64)
  )
  label = (np.arange(64) < 32)[None, :].repeat(64, 0).astype(np.uint8)
  probability = np.where(label == 1, 0.9, 0.1)
  if bright_false_alarm:
    vv[:16, 40:] = -6.0
    probability[:16, 40:] = 0.9
  vv_vh = np.stack([vv, vv - 7], -1)
  return ChipData(_record(chip_id, dataset), dataset, vv_vh, label, np.ones((64, 64), bool),
                  probability)  # fmt: skip


def test_a_cap_that_removes_false_alarms_only_is_kept():
  rng = np.random.default_rng(0)
  chips = [_chip("a", "one", rng, True), _chip("b", "two", rng)]
  plain = Scored(chips, MapRule())
  assert plain.pooled()["commission"] > 0.05
  rule, log = choose_rules(chips)
  assert rule.max_vv_db is not None and rule.max_vv_db < -6.0  # under the false alarm
  capped = Scored(chips, rule)
  assert capped.pooled()["commission"] < plain.pooled()["commission"]
  assert capped.datasets()["two"]["iou"] >= plain.datasets()["two"]["iou"]
  assert [entry["decision"] for entry in log] == ["threshold", "max_vv_db", "max_vh_db",
                                                  "min_area_m2", "split_margin_db"]  # fmt: skip


def test_a_rule_that_costs_one_dataset_water_is_refused():
  """A cap at -15 dB removes the false alarms of one set, but the water of the other is
  brighter (-12 dB, wind): the pooled figure rises, that set's water IoU falls: refused."""
  rng = np.random.default_rng(1)
  chips = [_chip("a", "one", rng, True), _chip("b", "two", rng, water_db=-12.0)]
  candidates = {"max_vv_db": (None, -15.0)}
  rule, _ = choose_rules(chips, candidates=candidates)
  assert rule.max_vv_db is None
  tried = Scored(chips, dataclasses.replace(rule, max_vv_db=-15.0))
  assert tried.pooled()["scene_iou_5pct"] > Scored(chips, rule).pooled()["scene_iou_5pct"]


def test_scores_pool_hand_chips_and_split_by_dataset_and_fold():
  rng = np.random.default_rng(2)
  chips = [_chip("a", "one", rng), _chip("b", "two", rng, True)]
  scored = Scored(chips, MapRule())
  assert scored.datasets()["one"]["iou"] == pytest.approx(1.0)
  assert scored.folds()["two"]["commission"] == pytest.approx(16 * 24 / (64 * 32))
  assert scored.pooled()["iou"] == pytest.approx(4096 / (4096 + 16 * 24))
  assert 0 < scored.pooled()["mean_iou"] < 1 and set(scored.chip_ious()) == {"a", "b"}


def test_the_scene_split_needs_two_modes():
  rng = np.random.default_rng(3)
  assert scene_split_cap(rng.normal(-10, 2.5, 50_000), 0.0) is None  # one mode
  two = np.concatenate([rng.normal(-20, 2.5, 20_000), rng.normal(-9, 2.5, 30_000)])
  assert -16.0 < scene_split_cap(two, 0.0) < -13.0
  assert scene_split_cap(two, 2.0) == pytest.approx(scene_split_cap(two, 0.0) + 2.0)
  assert scene_split_cap(np.full(50, -20.0), 0.0) is None  # too few pixels


def test_the_unit_of_a_map_rule_removes_small_patches():
  probability = np.zeros((40, 40))
  probability[2:5, 2:5] = 0.9  # 9 px = 900 m² at 10 m
  probability[20:30, 20:30] = 0.9
  vv_vh = np.full((40, 40, 2), -20.0)
  water = MapRule(min_area_m2=1000).water(probability, vv_vh, np.ones((40, 40), bool), 100.0)
  assert not water[2:5, 2:5].any() and water[20:30, 20:30].all()
