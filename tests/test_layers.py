"""The layer contract (.importlinter, the picture in DESIGN.md) holds for the whole tree.

The first test is what CI relies on: ``lint-imports`` on the real package. The second
shows the contract is not vacuous: the same layer list, applied to a small package with
one upward import (train importing experiment), is reported broken.
"""

import configparser
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

importlinter_cli = pytest.importorskip("importlinter.cli")  # the test extra installs it

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / ".importlinter"


def test_the_package_keeps_its_layers(capsys):
    code = importlinter_cli.lint_imports(config_filename=str(CONTRACT), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 kept, 0 broken" in out


def _layers() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(CONTRACT)
    raw = parser["importlinter:contract:layers"]["layers"]
    return [line.strip() for line in raw.splitlines() if line.strip()]


def test_an_upward_import_breaks_the_contract(tmp_path):
    layers = _layers()
    names = set()
    for layer in layers:
        for part in layer.replace("|", ":").split(":"):
            names.add(part.strip().strip("()"))
    assert {"cli", "experiment", "train", "tensor", "backend"} <= names
    pkg = tmp_path / "fakecr"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in sorted(names):
        (pkg / f"{name}.py").write_text("")
    (pkg / "train.py").write_text("from fakecr import experiment  # upward: not allowed\n")
    (pkg / "experiment.py").write_text("from fakecr import train  # downward: fine\n")
    config = tmp_path / ".importlinter"
    body = "\n".join(f"    {layer}" for layer in layers)
    config.write_text(
        textwrap.dedent(
            """\
            [importlinter]
            root_package = fakecr

            [importlinter:contract:layers]
            name = layers
            type = layers
            containers =
                fakecr
            layers =
            """
        )
        + body
        + "\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    script = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(config)!r}, no_cache=True, no_logo=True))"
    )
    res = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "fakecr.train is not allowed to import fakecr.experiment" in res.stdout
