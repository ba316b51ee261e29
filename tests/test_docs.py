"""The documentation site builds with `mkdocs build --strict` (no broken link, no warning),
offline, with every public name of the API in its reference; the README stays short."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
  pytest.importorskip("mkdocs")
  output = tmp_path_factory.mktemp("site")
  offline = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
  environment = dict(os.environ, NO_MKDOCS_2_WARNING="1", **offline)
  result = subprocess.run(
    [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(output)],
    cwd=PROJECT, env=environment, capture_output=True, text=True, timeout=300,
  )  # fmt: skip
  assert result.returncode == 0, result.stderr[-3000:]
  return output


def test_the_site_builds_strictly_with_every_page(site):
  for page in ("responder", "python", "researcher", "results", "speed", "reliability", "design",
               "reference"):  # fmt: skip
    assert (site / page / "index.html").is_file(), page


def test_every_public_name_is_in_the_reference(site):
  import flood_jax

  reference = (site / "reference" / "index.html").read_text()
  missing = [name for name in flood_jax.__all__ if not re.search(rf"\b{name}\b", reference)]
  assert not missing, missing


def test_the_readme_is_short_and_its_links_resolve():
  readme = (PROJECT / "README.md").read_text()
  assert len(readme.splitlines()) < 200
  for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme):
    assert (PROJECT / target).exists(), target
