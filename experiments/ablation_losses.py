"""The notebook's loss ablation for the best model (ResUNet + attention gates + SE)."""

from flood_jax.training.losses import LOSSES

SWEEP = [
  {"name": name, "config": f"configs/best.py:loss={name}", "overrides": []} for name in LOSSES
] + [
  {
    "name": "focal_tversky+bce",
    "config": "configs/best.py",
    "overrides": ["--config.loss.terms={'focal_tversky': 1.0, 'binary_cross_entropy': 0.5}"],
  },
]
