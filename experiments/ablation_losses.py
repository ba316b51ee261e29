"""The notebook's loss ablation for the best model (ResUNet + attention gates + SE)."""

SWEEP = [
  {"name": name, "config": f"configs/loss_{name}.py", "overrides": []}
  for name in ("binary_cross_entropy", "dice", "tversky", "focal", "focal_tversky")
] + [
  {
    "name": "focal_tversky+bce",
    "config": "configs/best.py",
    "overrides": ["--config.loss.terms={'focal_tversky': 1.0, 'binary_cross_entropy': 0.5}"],
  },
]
