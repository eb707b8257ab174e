"""cr.nn.init against PyTorch's formulas: gains, fans, bounds (exact), standard deviations
(within sampling tolerance on large tensors), orthogonality, seeding, Linear's default."""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import init

SHAPE = (400, 600)  # 240,000 samples: the std estimate is within ~0.3% (3 sigma)


def big(shape=SHAPE, dtype="float64"):
    return cr.zeros(*shape, dtype=dtype)


GAIN_CASES = [
    ("linear", None),
    ("sigmoid", None),
    ("tanh", None),
    ("relu", None),
    ("leaky_relu", None),
    ("leaky_relu", 0.2),
    ("leaky_relu", math.sqrt(5)),
    ("selu", None),
]


@pytest.mark.parametrize("name, param", GAIN_CASES)
def test_calculate_gain_equals_torch(torch, name, param):
    assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", True)


def _uniform_bound_and_std(t):
    a = t.numpy()
    return np.abs(a).max(), a.std()


# name -> (chainrule call, torch call, expected bound (uniform) or None, expected std)
fan_in, fan_out = SHAPE[1], SHAPE[0]
CASES = {
    "uniform": (lambda t: init.uniform_(t, -0.3, 0.3), 0.3, 0.3 / math.sqrt(3)),
    "normal": (lambda t: init.normal_(t, 0.0, 0.02), None, 0.02),
    "xavier_uniform": (
        lambda t: init.xavier_uniform_(t, gain=5 / 3),
        5 / 3 * math.sqrt(6 / (fan_in + fan_out)),
        5 / 3 * math.sqrt(2 / (fan_in + fan_out)),
    ),
    "xavier_normal": (lambda t: init.xavier_normal_(t), None, math.sqrt(2 / (fan_in + fan_out))),
    "kaiming_uniform_relu": (
        lambda t: init.kaiming_uniform_(t, nonlinearity="relu"),
        math.sqrt(6 / fan_in),
        math.sqrt(2 / fan_in),
    ),
    "kaiming_uniform_default_linear": (
        lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)),
        1 / math.sqrt(fan_in),
        1 / math.sqrt(3 * fan_in),
    ),
    "kaiming_normal_fan_out": (
        lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
        None,
        math.sqrt(2 / fan_out),
    ),
    "kaiming_normal_leaky": (
        lambda t: init.kaiming_normal_(t, a=0.1),
        None,
        math.sqrt(2 / (1 + 0.01)) / math.sqrt(fan_in),
    ),
    "lecun_normal": (lambda t: init.lecun_normal_(t), None, 1 / math.sqrt(fan_in)),
}


@pytest.mark.parametrize("name", CASES)
def test_initializer_statistics(name):
    fn, bound, std = CASES[name]
    cr.manual_seed(0)
    t = big()
    assert fn(t) is t
    a = t.numpy()
    assert abs(a.mean()) < 4 * std / math.sqrt(a.size)
    assert abs(a.std() / std - 1) < 0.01, f"{name}: std {a.std()} vs {std}"
    if bound is not None:
        assert np.abs(a).max() <= bound
        assert np.abs(a).max() > 0.999 * bound  # the support is exactly [-bound, bound]


TORCH_EQUIV = {
    "xavier_uniform": lambda tt, t: tt.nn.init.xavier_uniform_(t, gain=5 / 3),
    "xavier_normal": lambda tt, t: tt.nn.init.xavier_normal_(t),
    "kaiming_uniform_relu": lambda tt, t: tt.nn.init.kaiming_uniform_(t, nonlinearity="relu"),
    "kaiming_uniform_default_linear": lambda tt, t: tt.nn.init.kaiming_uniform_(t, a=math.sqrt(5)),
    "kaiming_normal_fan_out": lambda tt, t: tt.nn.init.kaiming_normal_(
        t, mode="fan_out", nonlinearity="relu"
    ),
    "kaiming_normal_leaky": lambda tt, t: tt.nn.init.kaiming_normal_(t, a=0.1),
}


@pytest.mark.parametrize("name", TORCH_EQUIV)
def test_initializer_distribution_matches_torch(torch, name):
    """Same distribution as torch's initializer: bounds and std agree within sampling noise."""
    fn = CASES[name][0]
    cr.manual_seed(1)
    ours = fn(big()).numpy()
    torch.manual_seed(1)
    theirs = TORCH_EQUIV[name](torch, torch.empty(*SHAPE)).numpy()
    assert abs(ours.std() / theirs.std() - 1) < 0.015
    assert abs(np.abs(ours).max() / np.abs(theirs).max() - 1) < (0.01 if "uniform" in name else 0.3)


def test_fans_for_conv_shaped_tensors_and_errors(torch):
    t = cr.zeros(8, 3, 5, 5)
    assert init.calculate_fan_in_and_fan_out(t) == (75, 200)
    assert init.calculate_fan_in_and_fan_out(t) == torch.nn.init._calculate_fan_in_and_fan_out(
        torch.empty(8, 3, 5, 5)
    )
    with pytest.raises(ValueError, match="fewer than 2"):
        init.xavier_uniform_(cr.zeros(5))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(cr.zeros(2, 2), mode="fan_avg")


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (4, 3, 2)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    cr.manual_seed(2)
    w = init.orthogonal_(cr.zeros(*shape, dtype="float64"), gain=2.0).numpy()
    flat = w.reshape(shape[0], -1)
    small = min(flat.shape)
    gram = flat @ flat.T if flat.shape[0] == small else flat.T @ flat
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-12)


def test_constant_zeros_ones_and_dtype_preserved():
    t = cr.zeros(3, 4)  # float32
    init.constant_(t, 0.25)
    assert t.dtype == np.float32 and (t.numpy() == 0.25).all()
    init.ones_(t)
    assert (t.numpy() == 1).all()
    init.zeros_(t)
    assert (t.numpy() == 0).all()
    init.normal_(t)
    assert t.dtype == np.float32


def test_seeded_generator_makes_init_reproducible():
    cr.manual_seed(7)
    a = init.kaiming_normal_(big((50, 50))).numpy().copy()
    cr.manual_seed(7)
    b = init.kaiming_normal_(big((50, 50))).numpy()
    np.testing.assert_array_equal(a, b)
    c = init.kaiming_normal_(big((50, 50)), generator=np.random.default_rng(7)).numpy()
    assert c.shape == (50, 50)


def test_linear_default_init_is_pytorchs():
    cr.manual_seed(0)
    lin = nn.Linear(500, 300, dtype="float64")
    w, b = lin.weight.numpy(), lin.bias.numpy()
    bound = 1 / math.sqrt(500)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.999 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.97 * bound
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.01
    assert lin.weight.dtype == np.float64 and nn.Linear(2, 2).weight.dtype == np.float32
