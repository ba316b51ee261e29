"""Structure the house style promises, checked on the source: short functions, no flag threading."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "flood_jax"
MAX_FUNCTION_LINES = 60


def test_no_function_is_longer_than_sixty_lines():
  long = []
  for path in sorted(PACKAGE.rglob("*.py")):
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        lines = node.end_lineno - node.lineno + 1
        if lines > MAX_FUNCTION_LINES:
          long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines})")
  assert not long, long


def test_models_do_not_ask_which_device_they_run_on():
  """The operations are chosen once (models.operations from model_from_config's platform);
  nothing under models/ asks JAX for its default backend."""
  for path in (PACKAGE / "models").glob("*.py"):
    assert "default_backend" not in path.read_text(), path.name
