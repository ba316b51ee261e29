"""Ablation: the best model trained with the tversky loss alone, other fields as best.py."""

from configs import best


def get_config():
  config = best.get_config()
  config.loss.terms = {"tversky": 1.0}
  return config
