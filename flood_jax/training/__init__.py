"""Training: the tile store cut from a dataset, the input pipeline, losses, the trainer with its
data parallelism, and checkpoints."""
