import numpy as np
import pytest

from flood_jax.api import trained_model
from flood_jax.dataset.synthetic import synthesize_scene
from flood_jax.evaluation.gradcam import gradcam_plus_plus, layer_names


def test_maps_are_finite_bounded_and_depend_on_the_target_region(trained_workdir):
  model = trained_model(trained_workdir)
  scene = synthesize_scene(np.random.default_rng(3), (128, 128), nodata=False)
  assert 0.2 < scene.water.mean() < 0.8  # both target regions are large
  image, _ = model.normalised_input(scene.vv_vh_db)
  maps = {}
  for layer in layer_names(model.model):
    water = gradcam_plus_plus(model.model, model.variables, image, layer, scene.water)
    dry = gradcam_plus_plus(model.model, model.variables, image, layer, ~scene.water)
    for heat in (water, dry):
      assert heat.shape == (128, 128) and np.isfinite(heat).all()
      assert heat.min() >= 0.0 and heat.max() <= 1.0
    maps[layer] = (water, dry)
  water, dry = maps[layer_names(model.model)[-1]]
  assert np.abs(water - dry).mean() > 1e-3


def test_unknown_layer_is_refused(trained_workdir):
  model = trained_model(trained_workdir)
  with pytest.raises(ValueError, match="unknown layer"):
    gradcam_plus_plus(model.model, model.variables, np.zeros((64, 64, 3), np.float32), "conv9")
