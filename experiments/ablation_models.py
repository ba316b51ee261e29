"""The notebook's model ablation: each variant with the best config's loss and schedule.

Run with `python experiments/run_sweep.py --sweep=experiments/ablation_models.py --root=runs/models`
plus any shared override (e.g. `--override=--config.data.root=/data/v1.1`).
"""

SWEEP = [
  {"name": "unet", "config": "configs/model_unet.py", "overrides": []},
  {"name": "resunet", "config": "configs/model_resunet.py", "overrides": []},
  {"name": "resunet_ag", "config": "configs/model_resunet_ag.py", "overrides": []},
  {"name": "resunet_se", "config": "configs/model_resunet_se.py", "overrides": []},
  {"name": "resunet_ag_se", "config": "configs/model_resunet_ag_se.py", "overrides": []},
  {"name": "dual_attention", "config": "configs/model_dual_attention.py", "overrides": []},
]
