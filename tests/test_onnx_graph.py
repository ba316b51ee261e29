"""ONNX graph rewrites: each replaces its pattern and computes the same probabilities."""

import numpy as np
import onnx
import pytest

from flood_jax.api import trained_model
from flood_jax.export import exporter as export
from flood_jax.export import onnx_graph
from flood_jax.mapping.engines import OnnxRuntimeEngine

# rewrite -> (ops it removes, ops it brings)
REWRITES = {
  onnx_graph.upsampling_as_convolution: ({"Einsum"}, {"Conv"}),
  onnx_graph.pooling_as_max_pool: ({"ReduceMax"}, {"MaxPool"}),
  onnx_graph.mean_as_global_pool: ({"ReduceMean"}, {"GlobalAveragePool"}),
  onnx_graph.channel_gates_along_rows: (set(), {"Expand"}),
}


@pytest.fixture(scope="module")
def folded(trained_workdir):
  """The test model (SE in every block, an attention gate) as jax2onnx writes it, batch norm
  folded, and its probabilities on random windows."""
  model = trained_model(trained_workdir)
  size = model.config.predict.tile_size
  graph = export.fold_batch_norm(export.traced_onnx(model, size))
  images = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype(np.float32)
  return graph, images, OnnxRuntimeEngine(graph, "float32")(images)


def operations(model_bytes: bytes) -> list[str]:
  return [node.op_type for node in onnx.load_from_string(model_bytes).graph.node]


@pytest.mark.parametrize("rewrite", REWRITES, ids=lambda rewrite: rewrite.__name__)
def test_each_rewrite_replaces_its_pattern_and_keeps_the_function(folded, rewrite):
  graph, images, expected = folded
  removed, added = REWRITES[rewrite]
  model = onnx.load_from_string(graph)
  rewrite(model)
  rewritten = model.SerializeToString()
  before, after = operations(graph), operations(rewritten)
  assert removed <= set(before) and not removed & set(after)
  assert all(after.count(op) > before.count(op) for op in added)
  np.testing.assert_allclose(OnnxRuntimeEngine(rewritten, "float32")(images), expected, atol=1e-6)


def test_all_rewrites_together_keep_the_function_and_leave_no_unused_constant(folded):
  graph, images, expected = folded
  rewritten = onnx_graph.for_onnx_runtime(graph)
  np.testing.assert_allclose(OnnxRuntimeEngine(rewritten, "float32")(images), expected, atol=1e-6)
  model = onnx.load_from_string(rewritten)
  used = {name for node in model.graph.node for name in node.input}
  assert all(initializer.name in used for initializer in model.graph.initializer)


def test_gates_are_expanded_only_where_they_broadcast_over_a_spatial_axis():
  assert onnx_graph._row_expansion(["B", 64, 64, 16], ["B", 1, 1, 16]) == [1, 1, 64, 1]
  assert onnx_graph._row_expansion(["B", 16, 64, 64], ["B", 16, 1, 1]) == [1, 1, 1, 64]
  assert onnx_graph._row_expansion(["B", 16, 64, 64], ["B", 1, 64, 64]) is None  # spatial gate
  assert onnx_graph._row_expansion(["B", 16, "H", "W"], ["B", 16, 1, 1]) is None  # W unknown
  assert onnx_graph._row_expansion(["B", 16], ["B", 16]) is None
