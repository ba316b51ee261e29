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


# The floors of the house, lowest first: a module imports only from its own floor or lower ones.
# Two wings stand on the ground floors (core, scenes, models): the responder's (mapping, then
# the products made from a map) and the researcher's (dataset, then training); neither imports
# the other (`test_the_wings_stand_apart`); evaluation and export use both.
FLOORS = [
  {"errors", "core"},
  {"scenes", "models"},
  {"dataset", "mapping"},
  {"training", "products"},
  {"evaluation"},
  {"export"},
  {"__init__", "api", "xarray"},
  {
    "main",
    "predict",
    "evaluate",
    "preprocess",
    "synthesize",
    "course",
    "export.__main__",
    "model_flags",
    "cli",
  },
]
WINGS = ({"mapping", "products"}, {"dataset", "training"})


def _module_name(path: Path) -> str:
  parts = path.relative_to(PACKAGE).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _floor(module: str) -> int:
  for name in (module, module.split(".")[0]):
    for level, floor in enumerate(FLOORS):
      if name in floor:
        return level
  raise AssertionError(f"flood_jax.{module} is on no floor of FLOORS")


def _imports(path: Path) -> set[str]:
  """flood_jax modules that `path` imports, anywhere in it (inside functions too)."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flood_jax"):
      base = node.module.removeprefix("flood_jax").lstrip(".")
      for alias in node.names:
        candidate = f"{base}.{alias.name}".lstrip(".")
        is_module = (PACKAGE / f"{candidate.replace('.', '/')}.py").exists() or (
          PACKAGE / candidate.replace(".", "/")
        ).is_dir()
        found.add(candidate if is_module else base or "__init__")
    elif isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name.startswith("flood_jax."):
          found.add(alias.name.removeprefix("flood_jax."))
  return found


def _graph() -> dict[str, set[str]]:
  return {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_no_module_imports_from_a_higher_floor():
  upward = [
    f"flood_jax.{module} (floor {_floor(module)}) imports flood_jax.{imported} "
    f"(floor {_floor(imported)})"
    for module, imports in _graph().items()
    for imported in imports
    if _floor(imported) > _floor(module)
  ]
  assert not upward, upward


def test_the_import_graph_has_no_circle():
  graph = _graph()
  visiting, done, circles = [], set(), []

  def visit(module):
    if module in visiting:
      circles.append(" -> ".join([*visiting[visiting.index(module) :], module]))
      return
    if module in done:
      return
    visiting.append(module)
    for imported in sorted(graph.get(module, ())):
      if imported != module:
        visit(imported)
    visiting.pop()
    done.add(module)

  for module in graph:
    visit(module)
  assert not circles, circles


def test_only_programs_define_or_read_flags():
  """The library takes values as arguments; absl flags live in the programs' floor alone."""
  programs = FLOORS[-1]
  reading = [
    module
    for module, path in ((_module_name(path), path) for path in sorted(PACKAGE.rglob("*.py")))
    if module not in programs and ("FLAGS" in path.read_text() or "DEFINE_" in path.read_text())
  ]
  assert not reading, reading


def test_the_wings_stand_apart():
  """Mapping a scene never imports the trainer's world, nor training the map's products."""
  crossing = [
    f"flood_jax.{module} imports flood_jax.{imported}"
    for module, imports in _graph().items()
    for wing, other in (WINGS, WINGS[::-1])
    if module.split(".")[0] in wing
    for imported in imports
    if imported.split(".")[0] in other
  ]
  assert not crossing, crossing


def test_no_two_modules_share_a_name():
  """A program and its library module, or two modules of two folders, named alike make a reader
  guess which one is meant (`evaluate.py` and `evaluation/evaluate.py` were)."""
  names = {}
  for path in sorted(PACKAGE.rglob("*.py")):
    if path.name not in ("__init__.py", "__main__.py"):
      names.setdefault(path.name, []).append(str(path.relative_to(PACKAGE)))
  assert not {name: paths for name, paths in names.items() if len(paths) > 1}


def test_no_class_is_longer_than_150_lines():
  long = []
  for path in sorted(PACKAGE.rglob("*.py")):
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 150:
        long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
  assert not long, long
