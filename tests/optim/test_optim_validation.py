"""Invalid hyperparameters and misuse raise errors that name the parameter and value."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim


def params():
    return [cr.nn.Parameter(np.zeros(3)), cr.nn.Parameter(np.zeros(2))]


INVALID = [
    (optim.SGD, dict(lr=-0.1), "SGD: invalid lr -0.1 (must be >= 0)"),
    (optim.SGD, dict(momentum=1.5), "SGD: invalid momentum 1.5 (must be in [0, 1))"),
    (optim.SGD, dict(momentum=-0.1), "SGD: invalid momentum -0.1"),
    (optim.SGD, dict(momentum=1.0), "SGD: invalid momentum 1.0"),
    (optim.SGD, dict(momentum=0.9, dampening=1.5), "SGD: invalid dampening 1.5"),
    (optim.SGD, dict(weight_decay=-1e-4), "SGD: invalid weight_decay -0.0001"),
    (optim.SGD, dict(nesterov=True), "SGD: invalid nesterov True (must be used with momentum"),
    (optim.SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), "SGD: invalid nesterov"),
    (optim.SGD, dict(decay="l2"), "SGD: invalid decay 'l2' (must be one of"),
    (optim.Adam, dict(lr=-1.0), "Adam: invalid lr -1.0"),
    (optim.Adam, dict(betas=(1.0, 0.999)), "Adam: invalid beta1 1.0 (must be in [0, 1))"),
    (optim.Adam, dict(betas=(0.9, -0.1)), "Adam: invalid beta2 -0.1"),
    (optim.Adam, dict(betas=(0.9,)), "Adam: invalid betas (0.9,)"),
    (optim.Adam, dict(eps=0.0), "Adam: invalid eps 0.0 (must be > 0)"),
    (optim.Adam, dict(eps=-1e-8), "Adam: invalid eps -1e-08"),
    (optim.Adam, dict(weight_decay=-0.01), "Adam: invalid weight_decay -0.01"),
    (optim.Adam, dict(decay="lecture"), "Adam: invalid decay 'lecture'"),
    (optim.AdamW, dict(weight_decay=-0.01), "AdamW: invalid weight_decay -0.01"),
    (optim.AdamW, dict(betas=(0.9, 1.2)), "AdamW: invalid beta2 1.2"),
    (optim.RMSprop, dict(lr=-0.01), "RMSprop: invalid lr -0.01"),
    (optim.RMSprop, dict(alpha=1.0), "RMSprop: invalid alpha 1.0 (must be in [0, 1))"),
    (optim.RMSprop, dict(eps=0), "RMSprop: invalid eps 0"),
    (optim.RMSprop, dict(momentum=-0.5), "RMSprop: invalid momentum -0.5"),
    (optim.RMSprop, dict(weight_decay=-1), "RMSprop: invalid weight_decay -1"),
    (optim.Adagrad, dict(lr=-0.01), "Adagrad: invalid lr -0.01"),
    (optim.Adagrad, dict(lr_decay=-0.1), "Adagrad: invalid lr_decay -0.1"),
    (optim.Adagrad, dict(initial_accumulator_value=-1.0), "Adagrad: invalid initial_accumulator"),
    (optim.Adagrad, dict(eps=0.0), "Adagrad: invalid eps 0.0"),
    (optim.Adagrad, dict(weight_decay=-0.5), "Adagrad: invalid weight_decay -0.5"),
]


@pytest.mark.parametrize("cls, kwargs, message", INVALID, ids=lambda x: str(x)[:40])
def test_invalid_hyperparameter_raises_value_error_naming_it(cls, kwargs, message):
    with pytest.raises(ValueError) as info:
        cls(params(), **kwargs)
    assert str(info.value).startswith(message)


def test_invalid_option_in_a_param_group_is_caught_too():
    a, b = params()
    with pytest.raises(ValueError, match=r"SGD: invalid lr -1"):
        optim.SGD([{"params": [a]}, {"params": [b], "lr": -1}], lr=0.1)
    opt = optim.Adam([a], lr=0.1)
    with pytest.raises(ValueError, match=r"Adam: invalid eps 0"):
        opt.add_param_group({"params": [b], "eps": 0})
    assert len(opt.param_groups) == 1


def test_duplicate_parameters_are_refused():
    a, b = params()
    with pytest.raises(ValueError, match="more than one param group"):
        optim.SGD([{"params": [a, b]}, {"params": [b]}], lr=0.1)
    with pytest.raises(ValueError, match="twice in one param group"):
        optim.SGD([a, b, a], lr=0.1)
    opt = optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="more than one param group"):
        opt.add_param_group({"params": [a]})


def test_bad_params_argument():
    a, _ = params()
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD([{"params": {a}}], lr=0.1)
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([x * 2], lr=0.1)


def test_gradient_of_the_wrong_shape_is_reported_before_any_update():
    a, b = params()
    a.grad = cr.tensor(np.ones(3))
    b.grad = cr.tensor(np.ones(4))
    opt = optim.Adam([a, b], lr=0.1)
    message = r"gradient shape \(4,\) does not match parameter shape \(2,\)"
    with pytest.raises(ValueError, match=message):
        opt.step()
    assert opt.state == {}  # the whole step was refused, including a's update
    np.testing.assert_array_equal(a.data, np.zeros(3))


def test_add_param_group_fills_defaults_and_accepts_a_single_tensor():
    a, b = params()
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.5})
    g = opt.param_groups[1]
    assert g["params"] == [b] and g["lr"] == 0.5 and g["momentum"] == 0.9
