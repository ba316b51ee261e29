"""Ablation: the best model trained with the focal_tversky loss alone, other fields as best.py."""

from configs import best


def get_config():
  config = best.get_config()
  config.loss.terms = {"focal_tversky": 1.0}
  return config
