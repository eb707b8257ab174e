"""cr.save / cr.load through safetensors: bitwise round trips, PyTorch's names, old .npz."""

import os
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend
from chainrule.interop import CheckpointError, load, save

DATA = Path(__file__).parent / "data"


def _tree():
    return {
        "w": np.arange(12, dtype=np.float32).reshape(3, 4),
        "b": np.array([1.5, -2.0], dtype=np.float64),
        "t": cr.tensor([1.0, 2.0]),
        "ints": np.array([1, 2, 3], dtype=np.int64),
        "u8": np.array([0, 255], dtype=np.uint8),
        "mask": np.array([True, False]),
        "scalar": np.array(3.25),
        "opt": {0: {"momentum_buffer": np.ones(3)}, 1: {"step": 7}},
        "tuple": (1, "two", None, True),
        "floats": [0.1, float("inf"), float("-inf"), float("nan")],
        "big": 2**127 + 5,  # PCG64 generator states hold 128-bit integers
        "nested": {"list": [np.zeros((0, 3)), {"x": np.float32(2.5)}]},
        "empty": {},
        "a.b": np.array([1.0]),  # names by path: "a.b" twice
        "a": {"b": np.array([2.0])},
    }


def _same(a, b):
    """``a`` (loaded) equals ``b`` (saved) bitwise; NumPy scalars load as Python numbers."""
    if isinstance(b, np.generic):
        assert type(a) is type(b.item()) and a == b.item()
        return
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()  # bitwise
    elif isinstance(a, cr.Tensor):
        _same(a.data, b.data)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def test_any_tree_round_trips_bitwise(tmp_path):
    path = tmp_path / "tree.safetensors"
    save(_tree(), path)
    _same(load(path), _tree())
    assert path.read_bytes()[8:9] == b"{"  # a safetensors file, not a zip


def test_a_model_round_trips_as_a_model(tmp_path):
    cr.manual_seed(0)
    model = cr.nn.MLP([5, 7, 6, 3], activation=["gelu_tanh", "leaky_relu"], dropout=0.25)
    model.double()
    save(model, tmp_path / "m.safetensors")
    state = backend.get_rng_state()
    back = load(tmp_path / "m.safetensors")
    assert backend.get_rng_state() == state  # rebuilding draws nothing from the user's stream
    assert type(back) is cr.nn.MLP and back.sizes == [5, 7, 6, 3]
    assert repr(back) == repr(model)
    _same(back.state_dict(), model.state_dict())
    x = cr.tensor(np.random.default_rng(1).normal(size=(4, 5)))
    np.testing.assert_array_equal(back.eval()(x).data, model.eval()(x).data)


def test_a_sequential_keeps_its_names_and_layers(tmp_path):
    cr.manual_seed(0)
    from collections import OrderedDict

    model = cr.nn.Sequential(
        OrderedDict(
            hidden=cr.nn.Linear(3, 4),
            act=cr.nn.ELU(0.5),
            inner=cr.nn.Sequential(cr.nn.Linear(4, 2, bias=False), cr.nn.LogSoftmax(dim=1)),
        )
    )
    save(model, tmp_path / "s.safetensors")
    back = load(tmp_path / "s.safetensors")
    assert list(back.state_dict()) == ["hidden.weight", "hidden.bias", "inner.0.weight"]
    assert repr(back) == repr(model)


def test_custom_modules_are_refused_by_name_before_writing(tmp_path):
    class TwoLayer(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = cr.nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x)

    with pytest.raises(TypeError, match="TwoLayer is not supported"):
        save(TwoLayer(), tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="BCELoss at 1 is not supported"):
        save(cr.nn.Sequential(cr.nn.Linear(2, 2), cr.nn.BCELoss()), tmp_path / "x.safetensors")
    assert not list(tmp_path.iterdir())


def test_numpy_and_torch_read_the_weights_under_pytorch_names(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.numpy import load_file as numpy_load
    from safetensors.torch import load_file as torch_load

    cr.manual_seed(0)
    model = cr.nn.MLP([4, 8, 3], activation="tanh", dropout=0.1)
    path = tmp_path / "m.safetensors"
    save(model, path)
    names = {"0.weight", "0.bias", "3.weight", "3.bias"}  # Linear, Tanh, Dropout, Linear
    arrays = numpy_load(path)
    assert set(arrays) == names
    for key, value in model.state_dict().items():
        assert arrays[key.removeprefix("layers.")].tobytes() == value.tobytes()
    twin = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Dropout(0.1), torch.nn.Linear(8, 3)
    )
    twin.load_state_dict(torch_load(path))  # strict: exactly PyTorch's keys and shapes
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    want = model.eval()(cr.tensor(x)).data
    got = twin.eval()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_a_safetensors_file_from_pytorch_loads_as_a_state_dict(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    twin = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    save_file(twin.state_dict(), tmp_path / "torch.safetensors")
    state = load(tmp_path / "torch.safetensors")
    assert set(state) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    model = cr.nn.MLP([3, 5, 2], activation="relu")
    model.layers.load_state_dict(state)
    np.testing.assert_array_equal(model.layers[0].weight.data, twin[0].weight.detach().numpy())


def test_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        save({"w": np.ones(2)}, tmp_path / "a.safetensors")
        save({"w": np.ones(2)}, tmp_path / "a.npz")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a.safetensors").st_mode & 0o777 == 0o640
    assert os.stat(tmp_path / "a.npz").st_mode & 0o777 == 0o640


def test_npz_files_of_chainrule_0_1_still_load():
    """The fixture was written by chainrule 0.1's checkpoint.py (git show 7cf0462)."""
    state = load(DATA / "v1_checkpoint.npz")
    with np.load(DATA / "v1_expected.npz", allow_pickle=False) as expected:
        for name in ("layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"):
            assert state["model"][name].tobytes() == expected[name].tobytes()
        for index, entry in state["optimizer"]["state"].items():
            assert entry["momentum_buffer"].tobytes() == expected[f"m{index}"].tobytes()
    assert state["rng"]["bit_generator"] == "PCG64" and state["epoch"] == 1
    assert np.isnan(state["nan"])
    model = cr.nn.MLP([4, 5, 3], activation="tanh")
    model.load_state_dict(state["model"])


def test_npz_path_writes_the_old_format_and_it_round_trips(tmp_path):
    save(_tree(), tmp_path / "x.npz")
    assert (tmp_path / "x.npz").read_bytes()[:4] == b"PK\x03\x04"
    _same(load(tmp_path / "x.npz"), _tree())


def test_unstorable_values_are_refused_naming_where(tmp_path):
    with pytest.raises(TypeError, match=r"obj\['s'\] has dtype <U2"):
        save({"s": np.array(["ab"])}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match=r"object array at obj\['o'\]"):
        save({"o": np.array([{}, 1], dtype=object)}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="cannot store set"):
        save({"x": {1, 2}}, tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="not PyTorch's pickle format"):
        save({"x": np.ones(1)}, tmp_path / "x.pt")
    assert not list(tmp_path.iterdir())


def test_foreign_and_missing_files(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.ones(3))
    with pytest.raises(CheckpointError, match=r"plain\.npz is not a readable chainrule checkpoint"):
        load(tmp_path / "plain.npz")
    np.save(tmp_path / "objects.npy", np.array([{}], dtype=object), allow_pickle=True)
    os.rename(tmp_path / "objects.npy", tmp_path / "objects.bin")
    with pytest.raises(CheckpointError, match=r"neither a safetensors file nor an \.npz") as e:
        load(tmp_path / "objects.bin")
    assert "allow_pickle" not in str(e.value)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.safetensors")
    with pytest.raises(CheckpointError, match="is a folder"):
        load(tmp_path)


def test_an_npz_holding_pickled_objects_is_refused_without_numpys_hint(tmp_path):
    np.savez(tmp_path / "p.npz", __chainrule__=np.frombuffer(b"{}", np.uint8), a0=np.array([{}]))
    with pytest.raises(CheckpointError, match="pickled Python objects") as e:
        load(tmp_path / "p.npz")
    assert "allow_pickle" not in str(e.value)
