"""Fixtures for the sweep tests: the toy objectives on the import path of this process,
of spawned pool workers (they inherit sys.path) and of subprocesses and Ray workers
(they inherit PYTHONPATH)."""

import os
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOY = "sweep_toy_objectives:toy"


@pytest.fixture
def toy_path(monkeypatch):
    monkeypatch.syspath_prepend(HERE)
    old = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", HERE + (os.pathsep + old if old else ""))
    return HERE


def write_spec(path, text):
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def spec_file(tmp_path):
    return lambda text, name="spec.toml": write_spec(tmp_path / name, text)


def records_of(folder):
    import json

    lines = (folder / "trials.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture
def read_records():
    return records_of
