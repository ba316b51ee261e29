"""Ablation: the best model trained with the binary_cross_entropy loss alone, other fields as best.py."""

from configs import best


def get_config():
  config = best.get_config()
  config.loss.terms = {"binary_cross_entropy": 1.0}
  return config
