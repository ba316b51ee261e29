"""The model ablation at demo scale (small filters, synthetic data): runs on a CPU in about an hour."""

from experiments.ablation_models import SWEEP as MODELS

SHARED = ["--config.model.filters=(16, 32, 64, 128)", "--config.data.tile_size=128", "--config.data.tile_stride=128",
          "--config.num_train_steps=450", "--config.eval_every_steps=75", "--config.data.weak_fraction=0.25",
          "--config.optimizer.first_period=150", "--config.optimizer.warmup_steps=20", "--config.predict.tile_size=256"]  # fmt: skip
SWEEP = [dict(run, overrides=SHARED + run["overrides"]) for run in MODELS]
