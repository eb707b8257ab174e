"""Module: registration, traversal order, state_dict round trips, strict loading errors,
train/eval, zero_grad, dtype conversion, repr, containers and hooks."""

import copy

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(1))
        self.body = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        self.heads = nn.ModuleList([nn.Linear(2, 1), nn.Linear(2, 1, bias=False)])
        self.extra = nn.ModuleDict({"proj": nn.Linear(2, 2)})
        self.not_a_param = cr.tensor([1.0, 2.0])  # a plain attribute, not registered

    def forward(self, x):
        h = self.body(x) * self.scale
        h = self.extra["proj"](h)
        return sum(head(h) for head in self.heads)


def test_registration_order_and_dotted_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale",
        "body.0.weight",
        "body.0.bias",
        "body.2.weight",
        "body.2.bias",
        "heads.0.weight",
        "heads.0.bias",
        "heads.1.weight",
        "extra.proj.weight",
        "extra.proj.bias",
    ]
    assert len(list(net.parameters())) == 10
    assert net.num_parameters() == 1 + 16 + 10 + 3 + 2 + 6
    assert [n for n, _ in net.named_children()] == ["body", "heads", "extra"]
    names = [n for n, _ in net.named_modules()]
    assert names[:4] == ["", "body", "body.0", "body.1"] and "extra.proj" in names
    assert len(list(net.modules())) == len(names) == 10


def test_forward_and_backward_reach_every_parameter():
    net = Net()
    out = net(cr.randn(5, 3))
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert net.not_a_param.grad is None


def test_parameter_reassignment_and_type_errors():
    lin = nn.Linear(3, 2)
    new_w = nn.Parameter(np.zeros((2, 3), dtype=np.float32))
    lin.weight = new_w
    assert lin.weight is new_w and next(lin.parameters()) is new_w
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]  # same slot, same order
    np.testing.assert_array_equal(lin(cr.ones(1, 3)).numpy(), lin.bias.numpy()[None])
    with pytest.raises(TypeError, match="Parameter or None expected"):
        lin.weight = cr.zeros(2, 3)
    lin.bias = None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    seq = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="child module"):
        seq.__setattr__("0", 3)


def test_shared_parameter_listed_once():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, nn.Tanh(), a)
    assert len(list(seq.parameters())) == 2
    assert seq.num_parameters() == 6


def test_module_without_super_init_gets_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"super\(\)\.__init__"):
        Bad()


def test_delattr_unregisters():
    net = Net()
    del net.extra
    assert "extra" not in dict(net.named_children())
    assert not hasattr(net, "extra")


def test_state_dict_holds_copies():
    lin = nn.Linear(3, 2)
    sd = lin.state_dict()
    assert list(sd) == ["weight", "bias"] and isinstance(sd["weight"], np.ndarray)
    sd["weight"][...] = 7
    assert not (lin.weight.data == 7).any()


def test_load_state_dict_round_trip_and_dtype_cast():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)
    sd64 = {k: v.astype(np.float64) for k, v in a.state_dict().items()}
    w = b.body[0].weight
    b.load_state_dict(sd64)
    assert b.body[0].weight is w and w.dtype == np.float32  # copied in place, cast


def test_strict_load_lists_every_offending_key_in_one_error():
    net = Net()
    sd = net.state_dict()
    del sd["body.0.bias"], sd["heads.1.weight"]
    sd["body.9.weight"] = np.zeros(3)
    sd["body.2.weight"] = np.zeros((5, 5))
    before = net.body[2].weight.data.copy()
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(sd)
    msg = str(err.value)
    for key in ("body.0.bias", "heads.1.weight", "body.9.weight", "body.2.weight"):
        assert key in msg
    assert "(5, 5)" in msg and "(2, 4)" in msg
    np.testing.assert_array_equal(net.body[2].weight.data, before)  # nothing copied
    # strict=False tolerates missing/unexpected keys but never wrong shapes
    sd["body.2.weight"] = before
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["body.0.bias", "heads.1.weight"] and unexpected == ["body.9.weight"]


def _batches(n):
    r = np.random.default_rng(3)
    X = r.standard_normal((64, 4))
    y = (X.sum(1) > 0).astype(np.int64)
    return [(X[i::n][:16], y[i::n][:16]) for i in range(n)]


def _steps(model, opt, batches):
    losses = []
    for xb, yb in batches:
        loss = F.cross_entropy(model(cr.tensor(xb)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_state_dict_resume_gives_the_identical_trajectory(dtype):
    batches = _batches(4) * 5
    cr.manual_seed(0)
    model = nn.MLP([4, 8, 2], activation="tanh", dtype=dtype)
    opt = optim.Adam(model.parameters(), lr=0.05)
    _steps(model, opt, batches[:10])
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    straight = _steps(model, opt, batches[10:])

    cr.manual_seed(123)  # different initial weights: the load must overwrite them
    fresh = nn.MLP([4, 8, 2], activation="tanh", dtype=dtype)
    fresh.load_state_dict(saved_model)
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.05)
    fresh_opt.load_state_dict(saved_opt)
    resumed = _steps(fresh, fresh_opt, batches[10:])
    assert resumed == straight  # bitwise
    for p, q in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_train_eval_switches_dropout():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 10), nn.Dropout(0.5))
    x = cr.ones(4, 10)
    assert model.training and model[1].training
    a, b = model(x).numpy(), model(x).numpy()
    assert not np.array_equal(a, b) and (a == 0).any()
    assert model.eval() is model
    assert not model.training and not model[1].training
    c, d = model(x).numpy(), model(x).numpy()
    np.testing.assert_array_equal(c, d)
    np.testing.assert_allclose(c, model[0](x).numpy())
    model.train()
    assert model[1].training
    with pytest.raises(TypeError):
        model.train("no")


def test_zero_grad_none_or_fresh_zeros():
    lin = nn.Linear(2, 2)
    lin(cr.ones(1, 2)).sum().backward()
    old = lin.weight.grad
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is not old and (lin.weight.grad.numpy() == 0).all()
    assert (old.numpy() != 0).any()  # the old array was not zeroed in place
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None


def test_astype_double_float_in_place():
    model = nn.MLP([3, 4, 2])
    params = list(model.parameters())
    model(cr.ones(1, 3)).sum().backward()
    assert model.double() is model
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    assert all(p is q for p, q in zip(params, model.parameters()))
    assert model(cr.ones(1, 3, dtype="float64")).dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    with pytest.raises(TypeError):
        model.astype("int32")


def test_repr_shows_layers_shapes_and_total():
    model = nn.MLP([2, 8, 3], activation="tanh")
    text = repr(model)
    assert text.splitlines() == [
        "MLP(",
        "  (layers): Sequential(",
        "    (0): Linear(in_features=2, out_features=8, bias=True)  # weight (8, 2), bias (8,)",
        "    (1): Tanh()",
        "    (2): Linear(in_features=8, out_features=3, bias=True)  # weight (3, 8), bias (3,)",
        "  )",
        ")  # 51 parameters",
    ]
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.Linear(1000, 10)).endswith("; 10,010 parameters")
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"


def test_sequential_indexing_len_iteration():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == layers[1:]
    x = cr.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[3], nn.Sigmoid)
    with pytest.raises(IndexError):
        seq[4]
    named = nn.Sequential({"fc": nn.Linear(2, 2), "act": nn.Tanh()})
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    assert isinstance(named["act"], nn.Tanh) and isinstance(named[1], nn.Tanh)


def test_module_list_operations_keep_names_consecutive():
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    ml.append(nn.Linear(1, 2))
    ml.insert(0, nn.Linear(1, 3))
    assert [ml[i].out_features for i in range(len(ml))] == [3, 1, 1, 1, 2]
    del ml[1]
    assert [n for n, _ in ml.named_parameters()][-2:] == ["3.weight", "3.bias"]
    assert len(list(ml.parameters())) == 8
    assert isinstance(ml[1:], nn.ModuleList) and len(ml[1:]) == 3
    with pytest.raises(TypeError, match=r"cr\.nn\.Module"):
        ml.append("linear")


def test_module_dict_keys_never_shadow_methods():
    md = nn.ModuleDict({"keys": nn.Linear(1, 1), "b": nn.Tanh()})
    assert list(md.keys()) == ["keys", "b"]  # the method still works
    assert isinstance(md["keys"], nn.Linear) and "b" in md and len(md) == 2
    assert [n for n, _ in md.named_parameters()] == ["keys.weight", "keys.bias"]
    md.pop("b")
    assert list(md) == ["keys"]


def test_forward_hook_sees_outputs_and_can_be_removed():
    model = nn.MLP([2, 4, 1], activation="relu")
    seen = []
    handle = model.layers[1].register_forward_hook(lambda m, inp, out: seen.append(out))
    model(cr.randn(3, 2))
    assert len(seen) == 1 and seen[0].shape == (3, 4) and (seen[0].numpy() >= 0).all()
    handle.remove()
    model(cr.randn(3, 2))
    assert len(seen) == 1


def test_requires_grad_and_apply():
    model = nn.MLP([2, 3, 1])
    model.requires_grad_(False)
    assert all(not p.requires_grad for p in model.parameters())
    assert model.num_parameters(trainable_only=True) == 0
    model.requires_grad_(True)
    visited = []
    model.apply(lambda m: visited.append(type(m).__name__))
    assert visited[-1] == "MLP" and visited.count("Linear") == 2


def test_buffers_are_saved_and_converted_but_not_trained():
    class WithBuffer(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.register_buffer("running_mean", np.zeros(2, dtype=np.float32))

        def forward(self, x):
            return self.lin(x) - self.running_mean

    m = WithBuffer()
    assert "running_mean" in m.state_dict() and len(list(m.parameters())) == 2
    m.running_mean = cr.tensor([1.0, 2.0])
    m2 = WithBuffer()
    m2.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(m2.running_mean.numpy(), [1.0, 2.0])
    assert m2.double().running_mean.dtype == np.float64


def test_module_deepcopy_is_independent():
    a = nn.MLP([2, 3, 1])
    b = copy.deepcopy(a)
    b.linears[0].weight.data[...] = 0
    assert (a.linears[0].weight.data != 0).any()
    assert b.layers[0].weight is b.linears[0].weight
