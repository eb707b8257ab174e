"""MLP: the lecture's multilayer perceptron built from a list of layer sizes.

``h_0 = x``, ``a_k = W_k h_{k-1} + b_k``, ``h_k = g(a_k)`` for the hidden layers, and a
last linear layer that produces the logits (fed to ``cross_entropy``, which applies the
softmax). ``MLP([784, 500, 300, 10])`` is Linear(784, 500), g, Linear(500, 300), g,
Linear(300, 10) in ``.layers`` (a Sequential), so its forward pass is exactly one fused
``linear`` node and one activation node per layer.
"""

from __future__ import annotations

import copy
import numbers
from collections import namedtuple

from chainrule.nn import init as _init
from chainrule.nn.activation import (
    ELU,
    GELU,
    Dropout,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from chainrule.nn.containers import Sequential
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.module import Module

Hidden = namedtuple("Hidden", ["pre", "post"])
Hidden.__doc__ = """One hidden layer's values in a forward pass: ``pre`` = a_k = W_k h_{k-1} + b_k
(the pre-activation), ``post`` = h_k = g(a_k). Both are Tensors of the live graph."""

# name -> (layer factory, the nonlinearity name calculate_gain knows)
ACTIVATIONS = {
    "relu": (ReLU, "relu"),
    "leaky_relu": (LeakyReLU, "leaky_relu"),
    "tanh": (Tanh, "tanh"),
    "sigmoid": (Sigmoid, "sigmoid"),
    "elu": (ELU, "relu"),  # no exact gain is defined; ReLU's √2 is the usual choice
    "gelu": (GELU, "relu"),
    "gelu_tanh": (lambda: GELU("tanh"), "relu"),
    "identity": (Identity, "linear"),
    "linear": (Identity, "linear"),
    "softmax": (Softmax, "linear"),
    "log_softmax": (LogSoftmax, "linear"),
}
_GAIN_OF_TYPE = {
    ReLU: "relu",
    LeakyReLU: "leaky_relu",
    Tanh: "tanh",
    Sigmoid: "sigmoid",
    ELU: "relu",
    GELU: "relu",
    Identity: "linear",
    Softmax: "linear",
    LogSoftmax: "linear",
}

INITS = (
    "default",
    "he",
    "kaiming",
    "he_uniform",
    "kaiming_uniform",
    "xavier",
    "glorot",
    "xavier_normal",
    "glorot_normal",
    "lecun",
    "orthogonal",
    "normal",
    "uniform",
    "zeros",
    "constant",
)
# the default scale of the schemes that take one ("normal:0.1" overrides it)
_DEFAULT_SCALE = {"normal": 0.01, "uniform": 0.01, "constant": 0.1}


def _make_activation(spec, where):
    """An activation layer and its gain name from a name, a Module class or instance."""
    if spec is None:
        return None, "linear"
    if isinstance(spec, str):
        key = spec.lower()
        if key not in ACTIVATIONS:
            raise ValueError(
                f"MLP: unknown activation {spec!r} for {where}; choose from "
                f"{', '.join(ACTIVATIONS)} or pass a cr.nn.Module"
            )
        factory, gain = ACTIVATIONS[key]
        return factory(), gain
    if isinstance(spec, type) and issubclass(spec, Module):
        spec = spec()
    if isinstance(spec, Module):
        return copy.deepcopy(spec), _GAIN_OF_TYPE.get(type(spec), "linear")
    raise TypeError(f"MLP: activation for {where} must be a name or a Module, got {spec!r}")


def _gain(gain_name, layer):
    if gain_name == "leaky_relu" and isinstance(layer, LeakyReLU):
        return _init.calculate_gain("leaky_relu", layer.negative_slope)
    return _init.calculate_gain(gain_name)


def init_linear_(linear, scheme, gain_name="linear", activation=None):
    """Initialize one Linear layer by scheme name (see :class:`MLP`); biases become 0
    for every scheme except ``"default"`` (PyTorch's U(-1/√in, 1/√in))."""
    name, _, arg = str(scheme).partition(":")
    name = name.lower()
    if name not in INITS:
        raise ValueError(f"MLP: unknown init {scheme!r}; choose from {', '.join(INITS)}")
    if name == "default":
        linear.reset_parameters()
        return linear
    scale = float(arg) if arg else _DEFAULT_SCALE.get(name)
    w = linear.weight
    gain = _gain(gain_name, activation)
    if name in ("he", "kaiming", "he_uniform", "kaiming_uniform"):
        fn = _init.kaiming_uniform_ if name.endswith("uniform") else _init.kaiming_normal_
        slope = activation.negative_slope if isinstance(activation, LeakyReLU) else 0.0
        # kaiming_* takes a nonlinearity name; gains calculate_gain does not know
        # (ELU, GELU) were already mapped to "relu"
        fn(w, a=slope, mode="fan_in", nonlinearity=gain_name)
    elif name in ("xavier", "glorot"):
        _init.xavier_uniform_(w, gain)
    elif name in ("xavier_normal", "glorot_normal"):
        _init.xavier_normal_(w, gain)
    elif name == "lecun":
        _init.lecun_normal_(w)
    elif name == "orthogonal":
        _init.orthogonal_(w, gain)
    elif name == "normal":
        _init.normal_(w, 0.0, scale)
    elif name == "uniform":
        _init.uniform_(w, -scale, scale)
    elif name == "zeros":
        _init.zeros_(w)
    elif name == "constant":
        _init.constant_(w, scale)
    if linear.bias is not None:
        _init.zeros_(linear.bias)
    return linear


class MLP(Module):
    """A multilayer perceptron from a list of layer sizes.

    Args:
        sizes: ``[n_in, h_1, ..., h_K, n_out]`` (at least two entries).
        activation: the hidden nonlinearity g: a name (``"relu"``, ``"leaky_relu"``,
            ``"tanh"``, ``"sigmoid"``, ``"elu"``, ``"gelu"``, ``"gelu_tanh"``,
            ``"identity"``), a Module class or instance (copied per layer), or a list
            with one of those per hidden layer.
        init: how to initialize the weights (biases start at 0 unless ``"default"``):

            ============================  =================================================
            ``None`` / ``"default"``      PyTorch's Linear default: U(-1/√in, 1/√in)
            ``"he"`` / ``"kaiming"``      N(0, gain²/fan_in)   (``kaiming_normal_``)
            ``"he_uniform"``              U(±gain·√(3/fan_in)) (``kaiming_uniform_``)
            ``"xavier"`` / ``"glorot"``   U(±gain·√(6/(fan_in+fan_out)))
            ``"xavier_normal"``           N(0, gain²·2/(fan_in+fan_out))
            ``"lecun"``                   N(0, 1/fan_in)
            ``"orthogonal"``              gain · orthogonal matrix
            ``"normal[:std]"``            N(0, std²), std 0.01 by default
            ``"uniform[:a]"``             U(-a, a), a 0.01 by default
            ``"zeros"``                   all zero (a critical point: does not train)
            ``"constant[:c]"``            all c, 0.1 by default (never breaks symmetry)
            callable                      ``init(linear, activation_layer_or_None)``
            ============================  =================================================

            ``gain`` is ``calculate_gain`` of the activation that follows the layer:
            relu √2, leaky_relu √(2/(1+slope²)), tanh 5/3, sigmoid 1; ELU and GELU use
            ReLU's √2; the output layer (no activation) uses 1.
        bias: give every Linear a bias (default True).
        dropout: drop probability of a Dropout layer after each hidden activation
            (default 0: none).
        output_activation: an activation after the last layer (default None: the MLP
            returns logits, which is what ``cross_entropy`` wants).
        dtype: parameter dtype (default: ``cr.get_default_dtype()``).

    Attributes:
        layers: the ``Sequential`` of Linear / activation / Dropout layers, in order.
        sizes: the layer sizes.

    **Per-layer access for diagnostics.** ``linears`` and ``activations`` list the
    Linear layers and the hidden activation layers in order (``activations[k]`` follows
    ``linears[k]``). ``model(x, return_hidden=True)`` returns ``(output, hidden)``
    where ``hidden[k] = Hidden(pre=a_k, post=h_k)`` holds the pre-activation
    ``a_k = W_k h_{k-1} + b_k`` and the activation ``h_k = g(a_k)`` of hidden layer k
    (before dropout) as Tensors of the graph — call ``retain_grad()`` on them before
    ``backward()`` to read ``∂L/∂a_k``. The default forward records nothing extra.
    """

    def __init__(
        self,
        sizes,
        activation="relu",
        init=None,
        bias=True,
        dropout=0.0,
        output_activation=None,
        dtype=None,
    ):
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"MLP: sizes must list at least two positive sizes, got {sizes}")
        n_hidden = len(sizes) - 2
        if isinstance(activation, (list, tuple)):
            if len(activation) != n_hidden:
                raise ValueError(
                    f"MLP: {len(activation)} activations given for {n_hidden} hidden layers"
                )
            specs = list(activation)
        else:
            specs = [activation] * n_hidden
        if not isinstance(dropout, numbers.Real) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"MLP: dropout must be in [0, 1), got {dropout}")
        self.sizes = sizes
        layers, plan = [], []
        for k in range(len(sizes) - 1):
            lin = Linear(sizes[k], sizes[k + 1], bias=bias, dtype=dtype)
            layers.append(lin)
            if k < n_hidden:
                act, gain_name = _make_activation(specs[k], f"hidden layer {k + 1}")
                layers.append(act)
                if dropout > 0:
                    layers.append(Dropout(dropout))
            else:
                act, gain_name = _make_activation(output_activation, "the output layer")
                if act is not None:
                    layers.append(act)
            plan.append((lin, gain_name, act))
        self.layers = Sequential(*layers)
        self.init = init
        if init is not None:
            for lin, gain_name, act in plan:
                if callable(init):
                    init(lin, act)
                else:
                    init_linear_(lin, init, gain_name, act)

    @property
    def linears(self):
        """The Linear layers, first to last."""
        return [m for m in self.layers if isinstance(m, Linear)]

    @property
    def activations(self):
        """The hidden activation layers: ``activations[k]`` follows ``linears[k]``."""
        out, after_hidden_linear = [], False
        n_lin = len(self.linears)
        k = 0
        for m in self.layers:
            if isinstance(m, Linear):
                k += 1
                after_hidden_linear = k < n_lin
            elif after_hidden_linear:
                out.append(m)
                after_hidden_linear = False
        return out

    def forward(self, x, return_hidden=False):
        if not return_hidden:
            return self.layers(x)
        hidden = []
        n_lin = len(self.linears)
        k, pre = 0, None
        for m in self.layers:
            x = m(x)
            if isinstance(m, Linear):
                k += 1
                pre = x if k < n_lin else None
            elif pre is not None:
                hidden.append(Hidden(pre, x))
                pre = None
        return x, hidden


__all__ = ["ACTIVATIONS", "INITS", "MLP", "Hidden", "init_linear_"]
