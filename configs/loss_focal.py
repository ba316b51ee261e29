"""Ablation: the best model trained with the focal loss alone, other fields as best.py."""

from configs import best


def get_config():
  config = best.get_config()
  config.loss.terms = {"focal": 1.0}
  return config
