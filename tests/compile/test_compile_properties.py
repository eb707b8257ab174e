"""Property: for random MLP shapes, activations, optimizers, dtypes and batch sizes, the
compiled trajectory is the eager one, bit for bit (losses, parameters, gradients,
optimizer state), and the printed source reproduces the replay."""

import numpy as np
from compile_harness import assert_same, assert_source_matches, batches, classifier
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.optim import SGD, Adagrad, Adam, AdamW, RMSprop

OPTIMIZERS = [
    lambda p: SGD(p, lr=0.05),
    lambda p: SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    lambda p: SGD(p, lr=0.05, momentum=0.8, weight_decay=1e-2, decay="decoupled"),
    lambda p: Adam(p, lr=1e-2, weight_decay=1e-3),
    lambda p: AdamW(p, lr=1e-2, amsgrad=True),
    lambda p: RMSprop(p, lr=1e-2, momentum=0.5),
    lambda p: Adagrad(p, lr=0.05),
]
ACTIVATIONS = ["relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hidden=st.lists(st.integers(1, 9), min_size=0, max_size=3),
    n_in=st.integers(1, 6),
    n_out=st.integers(2, 5),
    batch=st.integers(1, 7),
    last=st.integers(1, 7),
    activation=st.sampled_from(ACTIVATIONS),
    opt=st.sampled_from(range(len(OPTIMIZERS))),
    float64=st.booleans(),
)
def test_compiled_equals_eager(hidden, n_in, n_out, batch, last, activation, opt, float64):
    dtype = np.float64 if float64 else np.float32
    cr.set_default_dtype(dtype)
    try:
        sizes = (n_in, *hidden, n_out)
        build = classifier(sizes=sizes, activation=activation, opt=OPTIMIZERS[opt])
        data = batches(n_in, n_out, [batch, batch, batch, last, batch, last, last], dtype=dtype)
        _, _, step, model, o = assert_same(build, data)
        assert_source_matches(step, model, o, *data[-1])
    finally:
        cr.set_default_dtype(np.float32)
