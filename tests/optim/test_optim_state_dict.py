"""Optimizer state_dict: torch's layout, plain types only, and an exact resume."""

import io
import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim

rng = np.random.default_rng(1)
INIT = [rng.standard_normal((4, 5)), rng.standard_normal(5), rng.standard_normal((3, 2, 2))]
TARGET = [rng.standard_normal(a.shape) for a in INIT]

CASES = [
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.2, decay="lecture", weight_decay=1e-3)),
    (optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    (optim.AdamW, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(CASES)]


def make(cls, kwargs):
    params = [cr.nn.Parameter(a.copy()) for a in INIT]
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": kwargs["lr"] * 2}]
    return params, cls(groups, **kwargs)


def run(params, opt, steps):
    for _ in range(steps):
        for p, t in zip(params, TARGET):
            p.grad = cr.tensor(np.tanh(p.data - t) + 0.1 * p.data**2)  # a nonlinear gradient
        opt.step()


def plain(obj):
    """True when obj holds only JSON types and NumPy arrays (tuples allowed, as in torch)."""
    if isinstance(obj, np.ndarray):
        return True
    if isinstance(obj, dict):
        return all(isinstance(k, (str, int)) and plain(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(plain(v) for v in obj)
    return obj is None or type(obj) in (bool, int, float, str)


def to_json_and_npz(sd):
    """Split a state_dict as a checkpoint would: arrays into .npz, the rest into JSON."""
    arrays = {}
    meta = {"param_groups": sd["param_groups"], "state": {}}
    for i, entry in sd["state"].items():
        meta["state"][i] = {}
        for k, v in entry.items():
            if isinstance(v, np.ndarray):
                arrays[f"{i}.{k}"] = v
                meta["state"][i][k] = {"__array__": f"{i}.{k}"}
            else:
                meta["state"][i][k] = v
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    text = json.dumps(meta)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        loaded = {k: npz[k] for k in npz.files}
    meta = json.loads(text)
    for entry in meta["state"].values():
        for k, v in entry.items():
            if isinstance(v, dict) and "__array__" in v:
                entry[k] = loaded[v["__array__"]]
    return meta


@pytest.mark.parametrize("cls, kwargs", CASES, ids=IDS)
def test_resume_from_state_dict_is_bitwise_identical(cls, kwargs):
    params, opt = make(cls, kwargs)
    run(params, opt, 40)
    uninterrupted = [p.data.copy() for p in params]

    params1, opt1 = make(cls, kwargs)
    run(params1, opt1, 20)
    sd = opt1.state_dict()
    weights = [p.data.copy() for p in params1]  # a model checkpoint, taken alongside
    assert plain(sd)
    saved = to_json_and_npz(sd)  # state keys become strings, tuples become lists
    run(params1, opt1, 3)  # later steps must not leak into the saved state

    params2, opt2 = make(cls, kwargs)
    for p, w in zip(params2, weights):
        p.data = w
    opt2.load_state_dict(saved)
    run(params2, opt2, 20)
    for a, b in zip(params2, uninterrupted):
        np.testing.assert_array_equal(a, b)


TORCH_CASES = [(c, k) for c, k in CASES if k.get("decay") != "lecture"]  # torch has no such form


@pytest.mark.parametrize("cls, kwargs", TORCH_CASES, ids=lambda x: getattr(x, "__name__", ""))
def test_state_dict_layout_is_torchs(cls, kwargs):
    torch = pytest.importorskip("torch")
    params, opt = make(cls, kwargs)
    run(params, opt, 2)
    tparams = [torch.tensor(a.copy(), requires_grad=True) for a in INIT]
    tgroups = [{"params": tparams[:2]}, {"params": tparams[2:], "lr": kwargs["lr"] * 2}]
    tkwargs = {k: v for k, v in kwargs.items() if k != "decay"}
    topt = getattr(torch.optim, cls.__name__)(tgroups, **tkwargs)
    for _ in range(2):
        for p, t in zip(tparams, TARGET):
            p.grad = torch.tanh(p.detach() - torch.tensor(t)) + 0.1 * p.detach() ** 2
        topt.step()
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1, 2]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert [g["params"] for g in tsd["param_groups"]] == [[0, 1], [2]]
    for i in sd["state"]:
        assert set(sd["state"][i]) == set(tsd["state"][i])
        for k, v in sd["state"][i].items():
            expected = tsd["state"][i][k]
            if k == "step":
                assert v == int(expected.item())
            else:
                np.testing.assert_allclose(v, expected.numpy(), rtol=1e-12, atol=1e-15)
    shared = set(sd["param_groups"][1]) & set(tsd["param_groups"][1])
    assert {"lr", "weight_decay", "params"} <= shared
    for k in shared:
        assert sd["param_groups"][1][k] == tsd["param_groups"][1][k], k


@pytest.mark.parametrize("cls, kwargs", CASES, ids=IDS)
def test_state_dict_is_a_snapshot_not_a_view(cls, kwargs):
    params, opt = make(cls, kwargs)
    run(params, opt, 3)
    sd = opt.state_dict()
    frozen = {i: {k: np.copy(v) for k, v in e.items()} for i, e in sd["state"].items()}
    run(params, opt, 2)
    for i, entry in sd["state"].items():
        for k, v in entry.items():
            np.testing.assert_array_equal(v, frozen[i][k])
    assert opt.state_dict()["state"][0] != {} and sd["param_groups"][0]["params"] == [0, 1]


def test_load_state_dict_rejects_mismatched_groups():
    params, opt = make(optim.Adam, dict(lr=0.01))
    run(params, opt, 1)
    sd = opt.state_dict()
    other = optim.Adam([cr.nn.Parameter(a.copy()) for a in INIT], lr=0.01)
    with pytest.raises(ValueError, match="parameter groups"):
        other.load_state_dict(sd)
    sd["param_groups"][1]["params"] = [2, 3]
    _, fresh = make(optim.Adam, dict(lr=0.01))
    with pytest.raises(ValueError, match="group of 2 parameters"):
        fresh.load_state_dict(sd)


def test_load_state_dict_rejects_state_of_the_wrong_shape():
    params, opt = make(optim.Adam, dict(lr=0.01))
    run(params, opt, 1)
    sd = opt.state_dict()
    sd["state"][2]["exp_avg"] = np.zeros((3, 2))
    _, fresh = make(optim.Adam, dict(lr=0.01))
    with pytest.raises(ValueError, match=r"'exp_avg' of parameter 2 has shape \(3, 2\)"):
        fresh.load_state_dict(sd)


def test_load_state_dict_copies_and_casts_to_the_parameter_dtype():
    p64 = cr.nn.Parameter(np.ones(3))
    opt = optim.SGD([p64], lr=0.1, momentum=0.9)
    p64.grad = cr.tensor(np.full(3, 2.0))
    opt.step()
    sd = opt.state_dict()
    p32 = cr.nn.Parameter(np.ones(3, dtype=np.float32))
    opt32 = optim.SGD([p32], lr=0.1, momentum=0.9)
    opt32.load_state_dict(sd)
    buf = opt32.state[p32]["momentum_buffer"]
    assert buf.dtype == np.float32
    sd["state"][0]["momentum_buffer"][:] = 99.0  # the loaded buffer is not an alias
    np.testing.assert_array_equal(buf, [2.0, 2.0, 2.0])
    assert opt32.param_groups[0]["params"] == [p32]


def test_loaded_betas_come_back_as_a_tuple():
    params, opt = make(optim.Adam, dict(lr=0.01, betas=(0.8, 0.99)))
    run(params, opt, 1)
    sd = json.loads(json.dumps(opt.state_dict(), default=lambda a: a.tolist()))
    _, fresh = make(optim.Adam, dict(lr=0.01))
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["betas"] == (0.8, 0.99)
    assert isinstance(fresh.state[fresh.param_groups[0]["params"][0]]["exp_avg"], np.ndarray)
