"""Every activation and loss of cr.nn.functional against torch (float64, values and
gradients, every reduction and option) and against finite differences (order 1 and 2)."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.errors import ShapeError

REDUCTIONS = ["mean", "sum", "none"]
RTOL, ATOL = 1e-10, 1e-12


def rng(seed=0):
    return np.random.default_rng(seed)


def compare(torch, cr_fn, torch_fn, arrays, grads=None, rtol=RTOL, atol=ATOL):
    """Run cr_fn and torch_fn on the same float64 arrays; compare outputs and the
    gradients (for a random upstream gradient) of every array flagged in ``grads``."""
    grads = grads or [True] * len(arrays)
    xs = [cr.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    ts = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    out, out_t = cr_fn(*xs), torch_fn(*ts)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=rtol, atol=atol)
    v = rng(99).standard_normal(out.shape)
    out.backward(cr.tensor(v))
    out_t.backward(torch.tensor(v))
    for x, t, g in zip(xs, ts, grads):
        if g:
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol)
    return out


# ---------------------------------------------------------------- activations
ACTIVATIONS = {
    # name: (chainrule fn, torch fn name and kwargs, input sampler)
    "relu": (F.relu, lambda tf, x: tf.relu(x)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda tf, x: tf.leaky_relu(x, 0.2)),
    "elu": (F.elu, lambda tf, x: tf.elu(x)),
    "elu_alpha": (lambda x: F.elu(x, 0.5), lambda tf, x: tf.elu(x, 0.5)),
    "gelu": (F.gelu, lambda tf, x: tf.gelu(x)),
    "gelu_tanh": (lambda x: F.gelu(x, "tanh"), lambda tf, x: tf.gelu(x, approximate="tanh")),
    "sigmoid": (F.sigmoid, lambda tf, x: tf.sigmoid(x)),
    "tanh": (F.tanh, lambda tf, x: tf.tanh(x)),
    "softmax": (lambda x: F.softmax(x, dim=1), lambda tf, x: tf.softmax(x, dim=1)),
    "softmax0": (lambda x: F.softmax(x, dim=0), lambda tf, x: tf.softmax(x, dim=0)),
    "log_softmax": (lambda x: F.log_softmax(x, 1), lambda tf, x: tf.log_softmax(x, dim=1)),
    "log_sigmoid": (F.log_sigmoid, lambda tf, x: tf.logsigmoid(x)),
}
TWICE = [k for k in ACTIVATIONS if k not in ("relu", "leaky_relu")]


def away_from_zero(shape, seed=1):
    r = rng(seed)
    return r.choice([-1.0, 1.0], size=shape) * r.uniform(0.1, 4.0, size=shape)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_torch(torch, name):
    fn, tfn = ACTIVATIONS[name]
    x = away_from_zero((6, 5)) * 2  # includes |x| up to 8: saturated regions
    compare(torch, fn, lambda t: tfn(torch.nn.functional, t), [x])


def test_activations_at_exact_kinks_match_torch(torch):
    x = np.array([-1.0, 0.0, 0.0, 1.0])
    for name in ("relu", "leaky_relu", "elu", "gelu"):
        fn, tfn = ACTIVATIONS[name]
        compare(torch, fn, lambda t, tfn=tfn: tfn(torch.nn.functional, t), [x])


def test_activations_extreme_inputs_match_torch(torch):
    x = np.array([-1000.0, -50.0, -30.0, 30.0, 50.0, 1000.0])
    for name in ("elu", "gelu", "gelu_tanh", "sigmoid", "tanh", "log_sigmoid"):
        fn, tfn = ACTIVATIONS[name]
        out = compare(torch, fn, lambda t, tfn=tfn: tfn(torch.nn.functional, t), [x])
        assert np.isfinite(out.numpy()).all()


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradcheck_first_order(name):
    fn, _ = ACTIVATIONS[name]
    cr.gradcheck(fn, [away_from_zero((3, 4))])


@pytest.mark.parametrize("name", TWICE)
def test_activation_gradcheck_second_order(name):
    fn, _ = ACTIVATIONS[name]
    cr.gradcheck(fn, [away_from_zero((3, 4))], order=2)


def test_second_derivatives_match_torch(torch):
    """d²/dx² through create_graph, against torch's double backward."""
    x = away_from_zero((7,))
    for name in ("elu", "gelu", "gelu_tanh", "log_sigmoid"):
        fn, tfn = ACTIVATIONS[name]
        xc = cr.tensor(x, requires_grad=True)
        (g,) = cr.grad(fn(xc).sum(), [xc], create_graph=True)
        (h,) = cr.grad(g.sum(), [xc])
        xt = torch.tensor(x, requires_grad=True)
        (gt,) = torch.autograd.grad(tfn(torch.nn.functional, xt).sum(), [xt], create_graph=True)
        (ht,) = torch.autograd.grad(gt.sum(), [xt])
        np.testing.assert_allclose(h.numpy(), ht.numpy(), rtol=1e-9, atol=1e-12)


def test_erf_against_math_erf_and_gradcheck():
    import math

    x = np.linspace(-6, 6, 101)
    np.testing.assert_allclose(
        F.erf(cr.tensor(x)).numpy(), [math.erf(v) for v in x], rtol=1e-14, atol=1e-16
    )
    cr.gradcheck(F.erf, [x[::10]], order=2)


def test_gelu_float32_stays_float32():
    y = F.gelu(cr.randn(3, 4))
    assert y.dtype == np.float32


def test_dropout_inverted_scaling_and_eval_identity():
    cr.manual_seed(0)
    x = cr.ones(2000, 50, dtype="float64", requires_grad=True)
    y = F.dropout(x, 0.3, training=True)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01  # Bernoulli(0.7) mask
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7)  # survivors scaled by 1/(1-p)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())  # same mask backward
    assert F.dropout(x, 0.3, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert (F.dropout(x, 1.0).numpy() == 0).all()
    with pytest.raises(ValueError, match="p must be in"):
        F.dropout(x, 1.5)


def test_dropout_is_reproducible_with_manual_seed():
    x = cr.ones(10, 10)
    cr.manual_seed(5)
    a = F.dropout(x, 0.5).numpy()
    cr.manual_seed(5)
    b = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- cross-entropy / NLL
N, C = 7, 4
LABELS = np.array([0, 3, 1, 1, 2, 0, 3])
LABELS_IGN = np.array([0, 3, -100, 1, 2, -100, 3])
WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])
CE_CASES = {
    "plain": dict(),
    "weight": dict(weight=WEIGHT),
    "smoothing": dict(label_smoothing=0.2),
    "weight_smoothing": dict(weight=WEIGHT, label_smoothing=0.1),
    "ignore": dict(labels=LABELS_IGN),
    "ignore_custom": dict(labels=np.where(LABELS_IGN == -100, 2, LABELS_IGN), ignore_index=2),
    "ignore_weight_smoothing": dict(labels=LABELS_IGN, weight=WEIGHT, label_smoothing=0.3),
}


def _ce_args(case):
    opts = dict(CE_CASES[case])
    labels = opts.pop("labels", LABELS)
    return labels, opts


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CE_CASES)
def test_cross_entropy_matches_torch(torch, case, reduction):
    labels, opts = _ce_args(case)
    logits = rng(2).standard_normal((N, C)) * 3
    w = opts.pop("weight", None)

    def ours(x):
        return F.cross_entropy(x, labels, weight=w, reduction=reduction, **opts)

    def theirs(x):
        tw = None if w is None else torch.tensor(w)
        return torch.nn.functional.cross_entropy(
            x, torch.tensor(labels), weight=tw, reduction=reduction, **opts
        )

    compare(torch, ours, theirs, [logits])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "opts",
    [{}, {"weight": WEIGHT}, {"label_smoothing": 0.25}, {"weight": WEIGHT, "label_smoothing": 0.1}],
)
def test_cross_entropy_probability_targets_match_torch(torch, opts, reduction):
    r = rng(3)
    logits = r.standard_normal((N, C))
    q = r.dirichlet(np.ones(C), size=N)
    w = opts.get("weight")

    def ours(x, t):
        return F.cross_entropy(
            x, t, weight=w, reduction=reduction, label_smoothing=opts.get("label_smoothing", 0.0)
        )

    def theirs(x, t):
        return torch.nn.functional.cross_entropy(
            x,
            t,
            weight=None if w is None else torch.tensor(w),
            reduction=reduction,
            label_smoothing=opts.get("label_smoothing", 0.0),
        )

    compare(torch, ours, theirs, [logits, q], grads=[True, True])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ["plain", "weight", "ignore"])
def test_nll_loss_matches_torch(torch, case, reduction):
    labels, opts = _ce_args(case)
    logp = np.log(rng(4).dirichlet(np.ones(C), size=N))
    w = opts.get("weight")
    compare(
        torch,
        lambda x: F.nll_loss(x, labels, weight=w, reduction=reduction),
        lambda x: torch.nn.functional.nll_loss(
            x,
            torch.tensor(labels),
            weight=None if w is None else torch.tensor(w),
            reduction=reduction,
        ),
        [logp],
    )


def test_plain_cross_entropy_uses_the_fused_primitive():
    x = cr.randn(4, 3, requires_grad=True)
    assert F.cross_entropy(x, [0, 1, 2, 0]).op.name == "cross_entropy"
    assert F.cross_entropy(x, [0, 1, 2, 0], label_smoothing=0.1).op.name != "cross_entropy"


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_cross_entropy_stable_for_huge_logits(torch, scale):
    logits = rng(5).standard_normal((N, C)) * scale
    for labels, opts in [(LABELS, {}), (LABELS_IGN, {"weight": WEIGHT, "label_smoothing": 0.1})]:
        w = opts.pop("weight", None)
        out = compare(
            torch,
            lambda x: F.cross_entropy(x, labels, weight=w, **opts),
            lambda x: torch.nn.functional.cross_entropy(
                x, torch.tensor(labels), weight=None if w is None else torch.tensor(w), **opts
            ),
            [logits],
            rtol=1e-12,
        )
        assert np.isfinite(out.item())
    # log_softmax + nll in float32 too
    x = cr.tensor(logits.astype(np.float32), requires_grad=True)
    loss = F.nll_loss(F.log_softmax(x, 1), LABELS)
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("case", ["plain", "weight_smoothing", "ignore"])
def test_cross_entropy_gradcheck_order_1_and_2(case):
    labels, opts = _ce_args(case)
    w = opts.pop("weight", None)
    x = rng(6).standard_normal((N, C))
    fn = lambda z: F.cross_entropy(z, labels, weight=w, **opts)  # noqa: E731
    cr.gradcheck(fn, [x])
    cr.gradcheck(fn, [x], order=2)


def test_cross_entropy_probability_target_gradcheck():
    r = rng(7)
    x, q = r.standard_normal((3, 4)), r.dirichlet(np.ones(4), size=3)
    cr.gradcheck(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1), [x, q], order=2)


def test_cross_entropy_all_rows_ignored_is_nan_like_torch(torch):
    labels = np.full(3, -100)
    x = rng(8).standard_normal((3, 4))
    with np.errstate(invalid="ignore"):
        ours = F.cross_entropy(cr.tensor(x), labels).item()
    theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(labels)).item()
    assert np.isnan(ours) and np.isnan(theirs)


def test_cross_entropy_accepts_integer_valued_float_labels():
    x = cr.randn(3, 4)
    a = F.cross_entropy(x, np.array([0.0, 3.0, 1.0])).item()
    assert a == F.cross_entropy(x, np.array([0, 3, 1])).item()
    with pytest.raises(TypeError, match="must be integers"):
        F.cross_entropy(x, np.array([0.5, 3.0, 1.0]))


def test_cross_entropy_errors():
    x = cr.randn(4, 3)
    with pytest.raises(ShapeError, match=r"batch size 4 .* batch size 5"):
        F.cross_entropy(x, [0, 1, 2, 0, 1])
    with pytest.raises(ShapeError, match=r"batch size 4 .* batch size 5"):
        F.cross_entropy(x, [0, 1, 2, 0, 1], label_smoothing=0.1)
    with pytest.raises(ShapeError, match=r"batch size 4 .* batch size 3"):
        F.nll_loss(x, [0, 1, 2])
    with pytest.raises(ShapeError, match=r"\(4, 3\).*\(5, 3\)"):
        F.cross_entropy(x, np.full((5, 3), 1 / 3))
    with pytest.raises(ValueError, match="out of range"):
        F.cross_entropy(x, [0, 1, 2, 3], weight=np.ones(3))
    with pytest.raises(ValueError, match="unknown reduction"):
        F.cross_entropy(x, [0, 1, 2, 0], reduction="avg")
    with pytest.raises(ShapeError, match="weight must have shape"):
        F.cross_entropy(x, [0, 1, 2, 0], weight=np.ones(4))


# ---------------------------------------------------------------- regression / binary losses
def _pair(seed, shape=(5, 3)):
    r = rng(seed)
    return r.standard_normal(shape) * 2, r.standard_normal(shape) * 2


ELEMENTWISE_LOSSES = {
    "mse": (
        lambda x, y, red: F.mse_loss(x, y, red),
        lambda tf, x, y, red: tf.mse_loss(x, y, reduction=red),
    ),
    "l1": (
        lambda x, y, red: F.l1_loss(x, y, red),
        lambda tf, x, y, red: tf.l1_loss(x, y, reduction=red),
    ),
    "huber": (
        lambda x, y, red: F.huber_loss(x, y, red),
        lambda tf, x, y, red: tf.huber_loss(x, y, reduction=red),
    ),
    "huber_d": (
        lambda x, y, red: F.huber_loss(x, y, red, delta=0.5),
        lambda tf, x, y, red: tf.huber_loss(x, y, reduction=red, delta=0.5),
    ),
    "smooth_l1": (
        lambda x, y, red: F.smooth_l1_loss(x, y, red),
        lambda tf, x, y, red: tf.smooth_l1_loss(x, y, reduction=red),
    ),
    "smooth_l1_b": (
        lambda x, y, red: F.smooth_l1_loss(x, y, red, beta=2.0),
        lambda tf, x, y, red: tf.smooth_l1_loss(x, y, reduction=red, beta=2.0),
    ),
    "smooth_l1_0": (
        lambda x, y, red: F.smooth_l1_loss(x, y, red, beta=0.0),
        lambda tf, x, y, red: tf.smooth_l1_loss(x, y, reduction=red, beta=0.0),
    ),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ELEMENTWISE_LOSSES)
def test_regression_loss_matches_torch(torch, name, reduction):
    fn, tfn = ELEMENTWISE_LOSSES[name]
    x, y = _pair(9)
    compare(
        torch,
        lambda a, b: fn(a, b, reduction),
        lambda a, b: tfn(torch.nn.functional, a, b, reduction),
        [x, y],
        grads=[True, True],
    )


@pytest.mark.parametrize("name", ELEMENTWISE_LOSSES)
def test_regression_loss_gradcheck(name):
    fn, _ = ELEMENTWISE_LOSSES[name]
    x, y = _pair(10, (3, 2))
    y = x + np.where(rng(11).random(x.shape) < 0.5, -1, 1) * rng(12).uniform(0.1, 3, x.shape)
    cr.gradcheck(lambda a, b: fn(a, b, "mean"), [x, y])
    cr.gradcheck(lambda a, b: fn(a, b, "sum"), [x, y], order=2)


BCE_OPTS = [{}, {"weight": True}]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_matches_torch(torch, reduction, weighted):
    r = rng(13)
    p, y = r.uniform(0.02, 0.98, (6, 2)), r.uniform(0, 1, (6, 2))
    w = r.uniform(0.5, 2, (6, 2)) if weighted else None
    compare(
        torch,
        lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction),
        lambda a, b: torch.nn.functional.binary_cross_entropy(
            a, b, weight=None if w is None else torch.tensor(w), reduction=reduction
        ),
        [p, y],
        grads=[True, True],
    )


def test_binary_cross_entropy_at_zero_and_one_matches_torch(torch):
    p, y = np.array([0.0, 1.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0, 0.0])
    out = compare(
        torch,
        lambda a: F.binary_cross_entropy(a, y, reduction="none"),
        lambda a: torch.nn.functional.binary_cross_entropy(a, torch.tensor(y), reduction="none"),
        [p],
    )
    np.testing.assert_array_equal(out.numpy(), [0, 0, 100, 100])  # log clamped at -100


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", ["none", "weight", "pos_weight", "both"])
def test_bce_with_logits_matches_torch(torch, reduction, opts):
    r = rng(14)
    x, y = r.standard_normal((6, 3)) * 4, r.uniform(0, 1, (6, 3))
    w = r.uniform(0.5, 2, (6, 3)) if opts in ("weight", "both") else None
    pw = r.uniform(0.5, 3, (3,)) if opts in ("pos_weight", "both") else None
    compare(
        torch,
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, w, reduction, pw),
        lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
            a,
            b,
            weight=None if w is None else torch.tensor(w),
            reduction=reduction,
            pos_weight=None if pw is None else torch.tensor(pw),
        ),
        [x, y],
        grads=[True, True],
    )


def test_bce_with_logits_huge_logits_finite(torch):
    x, y = np.array([-1e4, 1e4, -800.0, 800.0]), np.array([1.0, 0.0, 0.0, 1.0])
    out = compare(
        torch,
        lambda a: F.binary_cross_entropy_with_logits(a, y, reduction="none"),
        lambda a: torch.nn.functional.binary_cross_entropy_with_logits(
            a, torch.tensor(y), reduction="none"
        ),
        [x],
    )
    assert np.isfinite(out.numpy()).all()


def test_binary_losses_gradcheck_order_2():
    r = rng(15)
    p, y = r.uniform(0.1, 0.9, (3, 2)), r.uniform(0, 1, (3, 2))
    cr.gradcheck(lambda a, b: F.binary_cross_entropy(a, b), [p, y], order=2)
    x = r.standard_normal((3, 2)) * 3
    pw = np.array([2.0, 0.5])
    cr.gradcheck(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=pw), [x, y], order=2
    )


@pytest.mark.parametrize(
    "loss",
    [
        F.mse_loss,
        F.l1_loss,
        F.huber_loss,
        F.smooth_l1_loss,
        F.binary_cross_entropy,
        F.binary_cross_entropy_with_logits,
        F.cross_entropy,
    ],
)
def test_every_loss_names_both_batch_sizes(loss):
    x = cr.rand(8, 3)
    y = np.full((6, 3), 1 / 3)
    with pytest.raises(ShapeError, match=r"batch size 8.*batch size 6"):
        loss(x, y)


def test_regression_loss_refuses_silent_broadcast():
    with pytest.raises(ShapeError, match=r"\(4, 1\).*\(4,\)"):
        F.mse_loss(cr.randn(4, 1), np.zeros(4))


def test_binary_cross_entropy_rejects_non_probabilities():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.binary_cross_entropy(cr.tensor([0.5, 1.5]), [0.0, 1.0])


def test_one_hot_matches_torch(torch):
    labels = np.array([[0, 2], [1, 1]])
    np.testing.assert_array_equal(
        F.one_hot(labels).numpy(), torch.nn.functional.one_hot(torch.tensor(labels)).numpy()
    )
    out = F.one_hot(cr.tensor([1, 0]), num_classes=4)
    assert out.dtype == np.int64 and out.numpy().tolist() == [[0, 1, 0, 0], [1, 0, 0, 0]]
    with pytest.raises(ValueError, match="labels must be in"):
        F.one_hot([0, 5], num_classes=3)
