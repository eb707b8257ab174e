"""cr.save / cr.load: exact round trips, no pickle, atomic writes, all-or-nothing loads."""

import os
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule.interop import CheckpointError, load, save


def _tree():
    return {
        "w": np.arange(12, dtype=np.float32).reshape(3, 4),
        "b": np.array([1.5, -2.0], dtype=np.float64),
        "t": cr.tensor([1.0, 2.0]),
        "ints": np.array([1, 2, 3], dtype=np.int64),
        "opt": {0: {"momentum_buffer": np.ones(3)}, 1: {"step": 7}},
        "tuple": (1, "two", None, True),
        "floats": [0.1, float("inf"), float("-inf"), float("nan")],
        "big": 2**127 + 5,  # PCG64 generator states hold 128-bit integers
        "nested": {"list": [np.zeros((0, 3)), {"x": np.float32(2.5)}]},
        "empty": {},
    }


def test_round_trip_keeps_values_types_and_dtypes(tmp_path):
    path = tmp_path / "a.ckpt.npz"
    save(_tree(), path)
    back = load(path)
    np.testing.assert_array_equal(back["w"], _tree()["w"])
    assert back["w"].dtype == np.float32 and back["b"].dtype == np.float64
    assert isinstance(back["t"], cr.Tensor) and back["t"].data.tolist() == [1.0, 2.0]
    assert back["ints"].dtype == np.int64
    assert set(back["opt"]) == {0, 1} and back["opt"][1]["step"] == 7
    assert back["tuple"] == (1, "two", None, True)
    assert back["floats"][:3] == [0.1, float("inf"), float("-inf")]
    assert np.isnan(back["floats"][3])
    assert back["big"] == 2**127 + 5
    assert back["nested"]["list"][0].shape == (0, 3)
    assert back["nested"]["list"][1]["x"] == 2.5
    assert back["empty"] == {}


def test_generator_state_round_trip_reproduces_draws(tmp_path):
    cr.manual_seed(3)
    from chainrule import backend

    backend.rng().normal(size=5)
    save({"rng": backend.get_rng_state()}, tmp_path / "r.npz")
    expected = backend.rng().normal(size=5)
    backend.manual_seed(99)
    backend.set_rng_state(load(tmp_path / "r.npz")["rng"])
    np.testing.assert_array_equal(backend.rng().normal(size=5), expected)


def test_file_is_a_plain_npz_readable_without_pickle(tmp_path):
    path = tmp_path / "m.npz"
    save({"w": np.ones(2)}, path)
    with np.load(path, allow_pickle=False) as archive:
        assert "__chainrule__" in archive.files
        assert archive["__chainrule__"].dtype == np.uint8
        assert archive["a0"].tolist() == [1.0, 1.0]


def test_object_arrays_and_arbitrary_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="object array"):
        save({"x": np.array([{}, 1], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="cannot store set"):
        save({"x": {1, 2}}, tmp_path / "x.npz")
    assert not list(tmp_path.iterdir())  # encoding fails before any file is created


def test_model_and_optimizer_state_dicts_round_trip(tmp_path):
    cr.manual_seed(0)
    model = cr.nn.MLP([4, 8, 3], init="he")
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    x = cr.tensor(np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    cr.nn.functional.cross_entropy(model(x), np.array([0, 1, 2, 0, 1])).backward()
    opt.step()
    save(model.state_dict(), tmp_path / "model.npz")
    save(opt.state_dict(), tmp_path / "opt.npz")

    cr.manual_seed(1)
    model2 = cr.nn.MLP([4, 8, 3], init="he")
    opt2 = cr.optim.Adam(model2.parameters(), lr=1.0)
    model2.load_state_dict(load(tmp_path / "model.npz"))
    opt2.load_state_dict(load(tmp_path / "opt.npz"))
    for (name, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert opt2.param_groups[0]["lr"] == 1e-2
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    for key in s1:
        np.testing.assert_array_equal(s1[key]["exp_avg"], s2[key]["exp_avg"])


@pytest.mark.parametrize("where", ["array", "metadata"])
def test_corrupted_file_raises_one_clear_error(tmp_path, where):
    path = tmp_path / "c.npz"
    save({"w": np.arange(1000, dtype=np.float64)}, path)
    raw = bytearray(path.read_bytes())
    # flip a byte inside the chosen member's data
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("a0.npy" if where == "array" else "__chainrule__.npy")
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    offset = min(offset, info.header_offset + 30 + len(info.filename) + info.compress_size - 1)
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"c\.npz.*(truncated or corrupted|CRC)"):
        load(path)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file_raises_one_clear_error(tmp_path, keep):
    path = tmp_path / "t.npz"
    save({"w": np.arange(5000, dtype=np.float32), "s": "x"}, path)
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(CheckpointError, match="not a readable chainrule checkpoint"):
        load(path)


def test_foreign_npz_and_non_zip_files_are_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.ones(3))
    with pytest.raises(CheckpointError, match="not a chainrule checkpoint"):
        load(tmp_path / "plain.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CheckpointError):
        load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")


def test_failed_replace_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt.npz"
    save({"v": np.array([1.0])}, path)

    def broken_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save({"v": np.array([2.0])}, path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt.npz"]
    assert load(path)["v"].tolist() == [1.0]


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise OSError("I/O error (simulated)")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="simulated"):
        save({"v": np.ones(2)}, tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_folder_fails_cleanly(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OSError):
            save({"v": np.ones(2)}, folder / "x.npz")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)
