"""The documentation site builds with ``mkdocs build --strict`` (a broken link, a missing
page or a docstring that names a parameter the function lacks fails it), renders every
tutorial with its outputs, and documents every public name of every public package."""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

for module in ("mkdocs", "material", "mkdocstrings", "mkdocs_jupyter", "yaml"):
    pytest.importorskip(module)

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "chainrule",
    "chainrule.autograd",
    "chainrule.ops",
    "chainrule.nn",
    "chainrule.optim",
    "chainrule.data",
    "chainrule.train",
    "chainrule.explain",
    "chainrule.display",
    "chainrule.diagnostics",
    "chainrule.sweep",
    "chainrule.sklearn",
    "chainrule.experiment",
    "chainrule.compile",
    "chainrule.interop",
    "chainrule.playground",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    problems = [line for line in proc.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert proc.returncode == 0, "\n".join(problems) or proc.stderr[-3000:]
    return out


def test_the_build_is_strict():
    import yaml

    class Loader(yaml.SafeLoader):  # mkdocs.yml may use !!python tags; none are needed here
        pass

    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)
    assert config["strict"] is True
    nav = str(config["nav"])
    for notebook in sorted((ROOT / "docs" / "tutorials").glob("[0-9][0-9]_*.ipynb")):
        assert f"tutorials/{notebook.name}" in nav
    for page in sorted((ROOT / "docs").glob("*.md")):  # every guide is reachable
        assert page.name in nav, page.name
    for package in PACKAGES[1:]:
        assert f"api/{package.split('.')[1]}.md" in nav


@pytest.mark.slow
def test_every_tutorial_is_rendered_with_its_outputs(site):
    for notebook in sorted((ROOT / "docs" / "tutorials").glob("[0-9][0-9]_*.ipynb")):
        page = (site / "tutorials" / notebook.stem / "index.html").read_text(encoding="utf-8")
        assert "chainrule-display" in page or "data:image/svg+xml" in page, notebook.name
        assert "assert " in page  # the code is shown, asserts and all
    first = (site / "tutorials" / "01_chain_rule" / "index.html").read_text(encoding="utf-8")
    assert 'class="chainrule-explain"' in first and "srcdoc=" in first


@pytest.mark.slow
def test_every_public_name_has_an_api_entry(site):
    anchors = set()
    for page in (site / "api").rglob("index.html"):
        anchors |= set(re.findall(r'id="(chainrule[\w.]*)"', page.read_text(encoding="utf-8")))
    missing = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            if not any(a == f"{package}.{name}" or a.endswith(f".{name}") for a in anchors):
                missing.append(f"{package}.{name}")
    assert not missing
    assert "chainrule.display.mimebundle" in anchors and "chainrule.nn.MLP" in anchors
