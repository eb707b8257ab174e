"""chainrule.files: atomic writes that honour the umask, and the one TOML reader.

Every file a run produces goes through ``atomic_write``; before it, ``tempfile.mkstemp``
made each of them mode 0600 whatever the umask (issue 17).
"""

import contextlib
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import load_dataset
from chainrule.experiment import TrainConfig, run_training
from chainrule.files import atomic_write, read_toml


@pytest.fixture(scope="module")
def digits_small():
    return load_dataset("digits")


@contextlib.contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("kind", ["bytes", "str", "callable"])
def test_a_new_file_gets_the_mode_the_umask_allows(tmp_path, mask, expected, kind):
    data = {"bytes": b"abc", "str": "abc", "callable": lambda f: f.write(b"abc")}[kind]
    path = tmp_path / "out.txt"
    with umask(mask):
        atomic_write(path, data)
    assert path.read_bytes() == b"abc"
    assert mode(path) == expected
    assert os.listdir(tmp_path) == ["out.txt"]  # no temporary left behind


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    os.chmod(path, 0o640)
    with umask(0o077):
        atomic_write(path, "new")
    assert path.read_text() == "new" and mode(path) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write(path, b"old")

    def broken(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600)])
def test_every_file_of_a_run_folder_honours_the_umask(tmp_path, digits_small, mask, expected):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    config = TrainConfig.from_dict(
        {"layers": [8], "epochs": 1, "quiet": True, "out": str(out), "monitor": 5}
    )
    with umask(mask):
        run_training(config, splits=digits_small)
    files = sorted(p.name for p in out.iterdir())
    for name in (
        "config.toml",
        "metrics.json",
        "metrics.jsonl",
        "last.safetensors",
        "loss.png",
        "monitor.jsonl",
    ):
        assert name in files
    for name in files:
        assert mode(out / name) == expected, (name, oct(mode(out / name)))
    assert mode(out) == 0o777 & ~mask  # the folder itself too


def test_checkpoints_and_predict_output_honour_the_umask(tmp_path, digits_small):
    path = tmp_path / "m.ckpt.npz"
    with umask(0o022):
        cr.save({"w": np.zeros(3)}, path)
    assert mode(path) == 0o644
    out = tmp_path / "run"
    config = TrainConfig.from_dict(
        {"layers": [8], "epochs": 1, "quiet": True, "plots": False, "out": str(out)}
    )
    run_training(config, splits=digits_small)
    rows = tmp_path / "rows.csv"
    np.savetxt(rows, digits_small.X_test[:5], delimiter=",")
    preds = tmp_path / "preds.csv"
    res = subprocess.run(
        [sys.executable, "-m", "chainrule", "predict", str(out), "--input", str(rows)]
        + ["--output", str(preds)],
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(0o022),
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert mode(preds) == 0o644


def test_read_toml_errors_name_the_file(tmp_path):
    good = tmp_path / "a.toml"
    good.write_text("x = 1\n[t]\ny = 'z'\n")
    assert read_toml(good) == {"x": 1, "t": {"y": "z"}}
    bad = tmp_path / "b.toml"
    bad.write_text("x = [1\n")
    with pytest.raises(ValueError, match=r"b\.toml: invalid TOML"):
        read_toml(bad)
    with pytest.raises(FileNotFoundError, match=r"sweep spec not found: .*nope\.toml"):
        read_toml(tmp_path / "nope.toml", what="sweep spec")
    binary = tmp_path / "c.toml"
    binary.write_bytes(b"\xff\xfe\x00x = 1")
    with pytest.raises(ValueError, match=r"c\.toml: invalid TOML"):
        read_toml(binary)


def test_explain_pages_pictures_and_idx_files_honour_the_umask(tmp_path):
    # the writers outside a run folder: Explanation.html/render and write_idx
    from chainrule.data.idx import read_idx, write_idx
    from chainrule.explain.expression import explain_expression

    expl = explain_expression("(x+y)*z", {"x": -2.0, "y": 5.0, "z": -4.0})
    with umask(0o022):
        expl.html(tmp_path / "page.html")
        write_idx(tmp_path / "a.idx.gz", np.arange(6, dtype=np.uint8).reshape(2, 3))
        if __import__("shutil").which("dot"):
            expl.render(tmp_path / "graph.svg")
    for p in tmp_path.iterdir():
        assert mode(p) == 0o644, p
    assert "−12" in (tmp_path / "page.html").read_text()
    assert read_idx(tmp_path / "a.idx.gz").tolist() == [[0, 1, 2], [3, 4, 5]]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries


def test_a_downloaded_data_file_honours_the_umask(tmp_path, monkeypatch):
    # it was written through tempfile.mkstemp: 0600 whatever the umask
    import gzip

    from chainrule.data import download

    body = gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x02\x07\x09", mtime=0)
    monkeypatch.setattr(download, "fetch", lambda url, md5: body)
    with umask(0o022):
        path = download.download_file("t.gz", ["http://mirror.invalid"], "md5", tmp_path / "d")
    assert mode(path) == 0o644 and path.read_bytes() == body
