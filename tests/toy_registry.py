"""A toy architecture and a toy evaluator, added only through the registries
(`config.model.name`, `config.evals`), for tests/test_registry.py."""

import flax.linen as nn


class Toy(nn.Module):
  """One convolution and a batch norm: [B, H, W, 3] -> [B, H, W, 1] logits."""

  conv: object

  @nn.compact
  def __call__(self, images, train: bool = False):
    features = nn.relu(self.conv(4, (3, 3))(images))
    features = nn.BatchNorm(use_running_average=not train)(features)
    return self.conv(1, (1, 1))(features).astype("float32")


def build(fields: dict, injected: dict) -> Toy:
  return Toy(conv=injected["conv"])


class WaterShare:
  """The share of valid pixels the model calls water, over the chips it is given."""

  def __init__(self, scale: float = 1.0):
    self.scale, self.water, self.valid = scale, 0, 0

  def add(self, result) -> None:
    validity = result.chip.validity
    self.water += int(result.water["model"][validity].sum())
    self.valid += int(validity.sum())

  def results(self):
    yield "water_share", {"share": self.scale * self.water / max(self.valid, 1)}
