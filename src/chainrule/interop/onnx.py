"""``cr.onnx.export(model, example_input, path)``: a chainrule model as an ONNX graph.

Every model ``chainrule train``, ``cr.nn.MLP`` and ``cr.nn.Sequential`` build is a chain
of layers (interop/layers.py); each becomes standard ONNX operators (opset 17), built
with ``onnx.helper`` and checked with ``onnx.checker`` before the file is written::

    Linear            y = x Wᵀ + b          Gemm(x, W, b, transB=1)
    ReLU / Tanh / Sigmoid                   Relu / Tanh / Sigmoid
    LeakyReLU(s)                            LeakyRelu(alpha=s); float64: Max(x,0) + s·Min(x,0)
    ELU(α)            x > 0 ? x : α(eˣ-1)   Elu(alpha=α); float64: Max(x,0) + α(Exp(Min(x,0)) - 1)
    GELU              x · ½(1 + erf(x/√2))  Mul, Erf, Add, Mul (Erf in float32 for float64 models)
    GELU("tanh")      ½x(1 + tanh(√(2/π)(x + 0.044715x³)))   Mul, Add, Tanh
    Softmax / LogSoftmax(dim)               Softmax / LogSoftmax(axis=dim)
    Dropout, Identity                       nothing (the exported graph is the eval-mode model)

Why the float64 detours: ONNX defines Elu and Erf for double, but onnxruntime has no
double kernels for them, and LeakyRelu's and Elu's ``alpha`` are float32 attributes; the
compositions compute the same function with double constants. Erf has no composition
as exact, so a float64 GELU takes erf in float32 (outputs within ~1e-9 of chainrule's).

The input is ``[batch, n_features]`` with a dynamic batch axis; the output
``[batch, n_outputs]``. ``softmax=True`` appends a Softmax, so a classifier returns
probabilities (what ``chainrule predict`` prints). ``standardize=(mean, std)`` (or a
``Standardizer`` or its state dict) puts ``(x - mean) / std`` in front, so the graph takes
raw inputs as the run's data had them; those are then float64 by default, standardized
in float64 and cast to the model's dtype — exactly the steps ``chainrule predict`` takes
(raw features in float32 would lose digits before the subtraction: a feature of 123456.7
with std 0.01 has float32 resolution 0.008, most of a standard deviation).
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.files import atomic_write
from chainrule.interop.layers import named_chain
from chainrule.nn import activation as A
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.mlp import MLP

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17: readable by every runtime that runs opset 17
_SQRT1_2 = 1.0 / math.sqrt(2.0)
_GELU_TANH_BETA = math.sqrt(2.0 / math.pi)
_GELU_TANH_KAPPA = 0.044715


def _onnx():
    try:
        import onnx
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "cr.onnx.export needs the onnx package: pip install 'chainrule[onnx]'"
        ) from None
    return onnx


class _Graph:
    """The nodes and initializers being built, with unique value names."""

    def __init__(self, onnx, dtype):
        self.onnx, self.dtype = onnx, np.dtype(dtype)
        self.nodes, self.initializers, self.names = [], [], set()

    def name(self, base: str) -> str:
        name, n = base, 1
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    def const(self, base: str, value, dtype=None) -> str:
        name = self.name(base)
        array = np.asarray(value, dtype=dtype or self.dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list, base: str, **attrs) -> str:
        out = self.name(base)
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _layers(model):
    """``[(name, layer)]`` with the names of the equivalent torch ``nn.Sequential``."""
    return named_chain(model.layers if type(model) is MLP else model, "cr.onnx.export")


def _version() -> str:
    # the installed distribution's version (importing chainrule's root would pull in
    # every layer above this one)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chainrule")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _standardizer(standardize):
    if standardize is None:
        return None
    if hasattr(standardize, "state_dict") and hasattr(standardize, "transform"):
        standardize = standardize.state_dict()
    if isinstance(standardize, dict):
        mean, std = standardize["mean"], standardize["std"]
    else:
        mean, std = standardize
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    std = np.asarray(std, dtype=np.float64).reshape(-1)
    if mean.shape != std.shape or not (np.isfinite(mean).all() and (std > 0).all()):
        raise ValueError(
            "cr.onnx.export: standardize needs finite means and stds > 0, of one length"
        )
    return mean, std


def build(
    model,
    example_input,
    *,
    softmax=False,
    standardize=None,
    input_dtype=None,
    input_name="input",
    output_name="output",
    metadata=None,
):
    """The checked ``onnx.ModelProto`` for ``model`` (arguments as :func:`export`)."""
    onnx = _onnx()
    from onnx import helper

    from chainrule.tensor import Tensor

    layers = _layers(model)
    linears = [layer for _, layer in layers if type(layer) is Linear]
    if not linears:
        raise ValueError("cr.onnx.export: the model has no Linear layer")
    dtype = linears[0].weight.data.dtype
    mixed = {str(lin.weight.data.dtype) for lin in linears} - {str(dtype)}
    if dtype not in (np.float32, np.float64) or mixed:
        raise TypeError(
            f"cr.onnx.export: parameters must all be float32 or all float64, got {dtype}"
            + (f" and {', '.join(sorted(mixed))}" if mixed else "")
        )
    example = np.asarray(example_input.data if isinstance(example_input, Tensor) else example_input)
    n_in = linears[0].in_features
    if example.ndim != 2 or example.shape[1] != n_in:
        raise ValueError(
            f"cr.onnx.export: example_input must have shape (batch, {n_in}), got {example.shape}"
        )
    stats = _standardizer(standardize)
    if stats is not None and stats[0].shape != (n_in,):
        raise ValueError(
            f"cr.onnx.export: standardize has {stats[0].size} features, the model {n_in}"
        )
    raw_dtype = np.dtype(input_dtype or (np.float64 if stats is not None else dtype))
    if raw_dtype not in (np.float32, np.float64):
        raise ValueError(f"cr.onnx.export: input_dtype must be float32 or float64, got {raw_dtype}")
    last = layers[-1][1]
    if softmax and type(last) in (A.Softmax, A.LogSoftmax):
        raise ValueError(
            f"cr.onnx.export: softmax=True, but the model already ends in {type(last).__name__}"
        )

    g = _Graph(onnx, dtype)
    g.names.update((input_name, output_name))
    x = input_name
    if stats is not None:
        mean = g.const("standardize.mean", stats[0], raw_dtype)
        std = g.const("standardize.std", stats[1], raw_dtype)
        x = g.op("Div", [g.op("Sub", [x, mean], "centered"), std], "standardized")
    if raw_dtype != dtype:
        x = g.op("Cast", [x], "cast", to=helper.np_dtype_to_tensor_dtype(dtype))
    for name, layer in layers:
        x = _layer(g, name, layer, x)
    if softmax:
        x = g.op("Softmax", [x], "probabilities", axis=-1)
    if x == input_name:  # pragma: no cover - a Linear always adds a node
        x = g.op("Identity", [x], "copy")
    g.nodes[-1].output[0] = output_name
    g.nodes[-1].name = output_name

    elem = helper.np_dtype_to_tensor_dtype(dtype)
    raw_elem = helper.np_dtype_to_tensor_dtype(raw_dtype)
    graph = helper.make_graph(
        g.nodes,
        "chainrule",
        [helper.make_tensor_value_info(input_name, raw_elem, ["batch", n_in])],
        [helper.make_tensor_value_info(output_name, elem, ["batch", linears[-1].out_features])],
        initializer=g.initializers,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="chainrule",
        producer_version=_version(),
    )
    proto.ir_version = IR_VERSION
    if metadata:
        helper.set_model_props(proto, {str(k): str(v) for k, v in metadata.items()})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _layer(g: _Graph, name: str, layer, x: str) -> str:
    kind = type(layer)
    if kind is Linear:
        inputs = [x, g.const(f"{name}.weight", layer.weight.data)]
        if layer.bias is not None:
            inputs.append(g.const(f"{name}.bias", layer.bias.data))
        return g.op("Gemm", inputs, f"{name}.linear", transB=1)
    if kind is A.ReLU:
        return g.op("Relu", [x], f"{name}.relu")
    if kind is A.Tanh:
        return g.op("Tanh", [x], f"{name}.tanh")
    if kind is A.Sigmoid:
        return g.op("Sigmoid", [x], f"{name}.sigmoid")
    if kind is A.LeakyReLU:
        return _leaky_relu(g, name, layer.negative_slope, x)
    if kind is A.ELU:
        return _elu(g, name, layer.alpha, x)
    if kind is A.GELU:
        return _gelu(g, name, layer.approximate, x)
    if kind is A.Softmax:
        return g.op("Softmax", [x], f"{name}.softmax", axis=layer.dim)
    if kind is A.LogSoftmax:
        return g.op("LogSoftmax", [x], f"{name}.log_softmax", axis=layer.dim)
    if kind in (A.Dropout, Identity):  # eval mode: the identity
        return x
    raise TypeError(f"cr.onnx.export: no ONNX form for {kind.__name__}")  # pragma: no cover


def _leaky_relu(g: _Graph, name: str, slope: float, x: str) -> str:
    if g.dtype == np.float32:
        return g.op("LeakyRelu", [x], f"{name}.leaky_relu", alpha=slope)
    # LeakyRelu's alpha is a float32 attribute (0.01 becomes 0.0099999998): in float64,
    # max(x, 0) + slope · min(x, 0) with the slope as a double constant
    zero = g.const(f"{name}.zero", 0.0)
    positive = g.op("Max", [x, zero], f"{name}.positive")
    negative = g.op("Min", [x, zero], f"{name}.min")
    negative = g.op("Mul", [negative, g.const(f"{name}.slope", slope)], f"{name}.negative")
    return g.op("Add", [positive, negative], f"{name}.leaky_relu")


def _elu(g: _Graph, name: str, alpha: float, x: str) -> str:
    if g.dtype == np.float32:
        return g.op("Elu", [x], f"{name}.elu", alpha=alpha)
    # max(x, 0) + α(e^min(x, 0) - 1): x where x > 0 (the second term is α(1 - 1) = 0)
    zero, one = g.const(f"{name}.zero", 0.0), g.const(f"{name}.one", 1.0)
    positive = g.op("Max", [x, zero], f"{name}.positive")
    negative = g.op("Exp", [g.op("Min", [x, zero], f"{name}.min")], f"{name}.exp")
    negative = g.op("Sub", [negative, one], f"{name}.expm1")
    negative = g.op("Mul", [negative, g.const(f"{name}.alpha", alpha)], f"{name}.negative")
    return g.op("Add", [positive, negative], f"{name}.elu")


def _gelu(g: _Graph, name: str, approximate: str, x: str) -> str:
    half, one = g.const(f"{name}.half", 0.5), g.const(f"{name}.one", 1.0)
    if approximate == "tanh":
        # ½x(1 + tanh(β(x + κx³)))
        cube = g.op("Mul", [g.op("Mul", [x, x], f"{name}.square"), x], f"{name}.cube")
        inner = g.op("Mul", [cube, g.const(f"{name}.kappa", _GELU_TANH_KAPPA)], f"{name}.kx3")
        inner = g.op("Add", [x, inner], f"{name}.x_kx3")
        inner = g.op("Mul", [inner, g.const(f"{name}.beta", _GELU_TANH_BETA)], f"{name}.inner")
        t = g.op("Tanh", [inner], f"{name}.tanh")
        half_x = g.op("Mul", [x, half], f"{name}.half_x")
        return g.op("Mul", [half_x, g.op("Add", [t, one], f"{name}.one_t")], f"{name}.gelu")
    # x · ½ · (1 + erf(x/√2)), in the order chainrule computes it
    scaled = g.op("Mul", [x, g.const(f"{name}.sqrt1_2", _SQRT1_2)], f"{name}.scaled")
    if g.dtype == np.float64:  # onnxruntime has no double Erf: erf in float32
        from onnx import TensorProto

        scaled = g.op("Cast", [scaled], f"{name}.to_float", to=TensorProto.FLOAT)
        erf = g.op("Erf", [scaled], f"{name}.erf32")
        erf = g.op("Cast", [erf], f"{name}.erf", to=TensorProto.DOUBLE)
    else:
        erf = g.op("Erf", [scaled], f"{name}.erf")
    half_x = g.op("Mul", [x, half], f"{name}.half_x")
    return g.op("Mul", [half_x, g.op("Add", [erf, one], f"{name}.one_erf")], f"{name}.gelu")


def export(
    model,
    example_input,
    path,
    *,
    softmax=False,
    standardize=None,
    input_dtype=None,
    input_name="input",
    output_name="output",
    metadata=None,
):
    """Write ``model`` as an ONNX file at ``path`` (atomically) and return the ModelProto.

    Args:
        model: an ``MLP`` or a ``Sequential`` of supported layers (others are refused by
            name); exported as in eval mode (Dropout is the identity).
        example_input: a ``(batch, n_features)`` array or Tensor; it fixes the feature
            count the graph checks (the batch axis stays dynamic).
        softmax: append a Softmax over the last axis (a classifier's probabilities).
        standardize: ``(mean, std)``, a ``Standardizer`` or its state dict: the graph
            computes ``(x - mean) / std`` first, so it takes raw inputs.
        input_dtype: the input's dtype (default: float64 when standardizing, else the
            model's dtype, float32 or float64).
        metadata: ``{key: value}`` stored as the model's metadata_props (strings).
    """
    proto = build(
        model,
        example_input,
        softmax=softmax,
        standardize=standardize,
        input_dtype=input_dtype,
        input_name=input_name,
        output_name=output_name,
        metadata=metadata,
    )
    atomic_write(path, proto.SerializeToString())
    return proto


__all__ = ["OPSET", "build", "export"]
