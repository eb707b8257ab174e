"""Classification losses with class weights, ignore_index and label smoothing compile:
the replay computes each row's class weight and mask from that call's labels, so compiled
training equals eager training bit for bit, whatever the batches contain and in whichever
order; and cross_entropy's fused path, taken only when no row is ignored, is re-checked at
every replay (a batch that takes the other path is replayed by that path's capture)."""

import numpy as np
import pytest
from compile_harness import assert_same, assert_source_matches, batches, bits, snapshot, train

import chainrule as cr
from chainrule import nn
from chainrule.compile import CaptureError
from chainrule.nn import functional as F
from chainrule.ops.selection import equal, take
from chainrule.optim import SGD

IGN = -100
W = [0.5, 2.0, 1.25]  # class weights of the 3 classes


def with_ignored(data, pattern, value=IGN):
    """``data`` with every third row's label set to ``value`` in the batches where
    ``pattern`` is true."""
    out = []
    for (x, y), ignored in zip(data, pattern, strict=True):
        y = y.copy()
        if ignored:
            y[::3] = value
        out.append((x, y))
    return out


def build(loss, dtype=None, dropout=0.0):
    """MLP 4-6-3 + SGD with momentum + ``loss(logits, y)``; a "none" loss is summed."""

    def make():
        model = nn.MLP([4, 6, 3], activation="tanh", dropout=dropout, dtype=dtype)
        opt = SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            value = loss(model(cr.as_tensor(x)), y)
            total = value if value.ndim == 0 else value.sum()
            opt.zero_grad()
            total.backward()
            opt.step()
            return value

        return model, opt, step

    return make


def ce(**kw):
    return lambda out, y: F.cross_entropy(out, y, **kw)


def nll(**kw):
    return lambda out, y: F.nll_loss(F.log_softmax(out, 1), y, **kw)


# name -> (loss given the reduction and dtype, whether the labels have ignored rows)
CASES = {
    "weight": (lambda r, d: ce(weight=np.array(W), reduction=r), False),
    "weight-ignored": (lambda r, d: ce(weight=W, reduction=r), True),
    "ignored": (lambda r, d: ce(reduction=r), True),
    "ignore-a-class": (lambda r, d: ce(ignore_index=1, reduction=r), False),
    "smoothing": (lambda r, d: ce(label_smoothing=0.2, reduction=r), False),
    "weight-smoothing-ignored": (
        lambda r, d: ce(weight=np.array(W), label_smoothing=0.3, reduction=r),
        True,
    ),
    # a Tensor weight in the other float dtype: cast by an op, read at every replay
    "tensor-weight-other-dtype": (
        lambda r, d: ce(
            weight=cr.tensor(W, dtype=np.float32 if d == np.float64 else np.float64),
            reduction=r,
        ),
        True,
    ),
    "nll-weight-ignored": (lambda r, d: nll(weight=np.array(W), reduction=r), True),
    "nll-ignored": (lambda r, d: nll(reduction=r), True),
    "module-ce": (
        lambda r, d: nn.CrossEntropyLoss(
            weight=W, ignore_index=2, reduction=r, label_smoothing=0.1
        ),
        False,
    ),
    "module-nll": (lambda r, d: _log_softmax_then(nn.NLLLoss(weight=W, reduction=r)), True),
}


def _log_softmax_then(criterion):
    return lambda out, y: criterion(F.log_softmax(out, 1), y)


# which batches have ignored rows: ignored ones after plain ones, and the other way round
PATTERNS = {
    "plain-then-ignored": [False] * 4 + [True] * 4 + [False] * 3,
    "ignored-then-plain": [True] * 4 + [False] * 4 + [True] * 3,
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_training_with_a_classification_loss_is_eagers(case, reduction, dtype):
    make_loss, ignores = CASES[case]
    data = batches(4, 3, [8] * 9, dtype=dtype)
    if ignores:
        data = with_ignored(data, [True] * 9)
    comp = assert_same(build(make_loss(reduction, dtype), dtype=dtype), data)
    step = comp[2]
    assert step.refused is None
    assert (step.captures, step.replays) == (2, 7)  # captured once, replayed ever after


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_path_is_rechecked_at_every_replay(pattern, reduction, dtype):
    """Plain cross-entropy runs the fused primitive only on batches without ignored rows.
    A step captured on one kind of batch and given the other is captured on that path too
    (the label check used to reject -100 in a replay where eager mode trained on); when
    the first kind comes back, its capture replays it."""
    data = with_ignored(batches(4, 3, [8] * 11, dtype=dtype), PATTERNS[pattern])
    comp = assert_same(build(ce(reduction=reduction), dtype=dtype), data)
    step = comp[2]
    # 4 batches of one kind (2 captures, 2 replays), 4 of the other (2, 2), 3 of the
    # first (replayed by its own capture)
    assert (step.captures, step.replays) == (4, 7)


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_a_recapture_draws_dropout_masks_in_eager_order(pattern):
    """The branch is checked before anything else of the step: a replay that finds it
    changed stops before drawing dropout's masks, so the new capture draws them as eager
    mode does and the two runs keep the same generator state."""
    data = with_ignored(batches(4, 3, [8] * 11), PATTERNS[pattern])
    comp = assert_same(build(ce(), dropout=0.4), data)
    assert (comp[2].captures, comp[2].replays) == (4, 7)


def test_batches_that_switch_every_time_replay_both_paths():
    """With ignored rows in every other batch, consecutive captures take different
    paths: they pair up by path (two captures each), and then each batch is replayed by
    the capture of its own path, bit for bit eager's."""
    data = with_ignored(batches(4, 3, [8] * 10), [False, True] * 5)
    eager = train(build(ce()), data, False)
    cr.manual_seed(123)
    model, opt, step = build(ce())()
    fn = cr.compile(step, fallback=True)
    losses = [bits(fn(x, y).data) for x, y in data]
    assert fn.refused is None and (fn.captures, fn.replays) == (4, 6)
    assert losses == eager[0]
    assert snapshot(model, opt) == eager[1]


def test_a_step_whose_other_path_never_agrees_is_still_refused():
    """Pairing by path does not hide a step that differs from call to call: one whose
    Python takes another turn on every other call is refused after three tries."""
    data = batches(4, 3, [8] * 8)
    model = nn.MLP([4, 6, 3], activation="tanh")
    opt = SGD(model.parameters(), lr=0.1)
    calls = []

    def step(x, y):
        calls.append(1)
        out = model(cr.as_tensor(x))
        if len(calls) % 2:  # not a branch on values: the recorder cannot see it
            out = out * 2.0
        loss = F.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    fn = cr.compile(step, fallback=True)
    with pytest.warns(RuntimeWarning, match="the step ran differently on two calls"):
        for x, y in data:
            fn(x, y)
    assert fn.refused is not None and fn.replays == 0


def test_the_replay_checks_the_branch_first():
    data = with_ignored(batches(4, 3, [8] * 3), [False] * 3)
    *_, step, _, _ = assert_same(build(ce(), dropout=0.4), data)
    body = step.replay_source().split("raise Stale\n")[-1].splitlines()
    calls = [line.strip() for line in body if "(" in line or line.strip().startswith("if ")]
    # first the labels' range (all in 0..C-1 means no row can be ignore_index = -100),
    # then the branch check itself for a batch outside it, before anything else
    assert calls[0].startswith("top") and "np_maximum.reduce(" in calls[0]
    assert calls[1].startswith("if top") and calls[1].endswith(">= 3:")
    assert "expected=True" in calls[2] and "'ignore_index': -100" in calls[2]


@pytest.mark.parametrize("case", ["weight-smoothing-ignored", "nll-weight-ignored", "ignored"])
def test_the_printed_step_runs_and_gives_the_replays_bits(case):
    data = with_ignored(batches(4, 3, [8] * 4), [True] * 4)
    model, opt, step = build(CASES[case][0]("mean", None))()
    fn = cr.compile(step)
    for x, y in data[:3]:
        fn(x, y)
    assert "PRIMS['take']" in fn.source() or case == "ignored"
    assert_source_matches(fn, model, opt, *data[3])


def _target_labels(out, t):
    """Labels computed inside the step: column 0 of a float target matrix, by ops."""
    labels = cr.ops.astype(cr.ops.getitem(cr.as_tensor(t), (slice(None), 0)), np.int64)
    return F.cross_entropy(out, labels)


def _as_targets(data):
    return [(x, np.stack([y, y * 0], axis=1).astype(np.float32)) for x, y in data]


def test_labels_computed_in_the_step_are_checked_in_place():
    data = _as_targets(with_ignored(batches(4, 3, [8] * 8), [False] * 4 + [True] * 4))
    comp = assert_same(build(_target_labels), data)
    assert (comp[2].captures, comp[2].replays) == (4, 4)


def test_labels_computed_after_a_random_draw_are_refused_by_name():
    """Checked in place, a changed branch would be found after dropout drew its mask,
    which the new capture would draw again: refused, naming the check and the draw."""
    *_, step = build(_target_labels, dropout=0.3)()
    x, y = _as_targets(batches(4, 3, [8]))[0]
    with pytest.raises(CaptureError, match=r"_no_ignored_rows at .* after dropout\(p=0.3\)"):
        cr.compile(step)(x, y)


def test_a_tensor_weight_is_read_at_every_replay():
    """A class-weight Tensor changed between steps (in place, or its .data reassigned)
    is seen by the replay as by eager mode; a NumPy weight is a constant of the capture."""
    data = with_ignored(batches(4, 3, [8] * 8), [True, False] * 4)

    def run(compiled):
        cr.manual_seed(7)
        weight = cr.tensor(W)
        criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1)
        model, opt, step = build(criterion)()
        fn = cr.compile(step) if compiled else step
        losses = []
        for k, (x, y) in enumerate(data):
            losses.append(bits(fn(x, y).data))
            if k % 2:
                weight.data *= 1.5  # in place
            else:
                weight.data = weight.data[::-1].copy()  # reassigned
        return losses, snapshot(model, opt), fn

    eager, comp = run(False), run(True)
    assert comp[2].replays == 6
    assert eager[0] == comp[0]
    assert eager[1] == comp[1]


def test_a_module_keeps_its_weight_as_one_tensor():
    criterion = nn.CrossEntropyLoss(weight=[1, 2, 3])
    assert isinstance(criterion.weight, cr.Tensor)
    assert criterion.weight.dtype == np.int64  # the values as given, cast by the loss
    assert nn.NLLLoss().weight is None
    w = cr.tensor(W)
    assert nn.NLLLoss(weight=w).weight is w


@pytest.mark.parametrize("case", ["weight-ignored", "nll-weight-ignored"])
def test_labels_out_of_range_still_raise_in_a_replay(case):
    *_, step = build(CASES[case][0]("mean", None))()
    fn = cr.compile(step)
    data = with_ignored(batches(4, 3, [8] * 3), [True] * 3)
    for x, y in data[:2]:
        fn(x, y)
    x, y = data[2]
    y[1] = 3
    with pytest.raises(ValueError, match=r"label 3 is out of range for 3 classes.*row 1"):
        fn(x, y)
    assert fn.replays == 0


# ---------------------------------------------------------------- the new primitives
def test_take_gathers_rows_and_adds_repeated_gradients(torch):
    x0 = np.random.default_rng(0).standard_normal((4, 3))
    idx = np.array([2, 0, 2, 3, 2])
    x = cr.tensor(x0, requires_grad=True)
    out = take(x, idx)
    g = np.arange(15.0).reshape(5, 3)
    out.backward(cr.tensor(g))
    tx = torch.tensor(x0, requires_grad=True)
    tout = torch.index_select(tx, 0, torch.tensor(idx))
    tout.backward(torch.tensor(g))
    np.testing.assert_array_equal(out.data, tout.detach().numpy())
    np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())
    cr.gradcheck(lambda a: take(a, idx), [cr.tensor(x0, requires_grad=True)], order=2)


def test_take_names_the_op_and_the_index_out_of_range():
    with pytest.raises(IndexError, match=r"take: index 3 is out of range for 3 rows"):
        take(cr.tensor(W), np.array([0, 3]))
    with pytest.raises(IndexError, match=r"take: index -1 is out of range"):
        take(cr.tensor(W), np.array([-1]))
    with pytest.raises(TypeError, match="take: indices must be integers, got float64"):
        take(cr.tensor(W), np.array([0.0]))


def test_equal_is_a_mask_that_passes_a_zero_gradient():
    x = cr.tensor([1.0, -100.0, 2.0], dtype=np.float64, requires_grad=True)
    mask = equal(x, -100)
    assert mask.data.tolist() == [False, True, False]
    (grad,) = cr.grad([cr.ops.where(mask, 0.0, x * 3).sum()], [x])
    assert grad.data.tolist() == [3.0, 0.0, 3.0]


# ---------------------------------------------------------------- eager against PyTorch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "opts",
    [
        {"weight": W},
        {"weight": W, "label_smoothing": 0.2},
        {"label_smoothing": 0.1},
        {},
    ],
    ids=["weight", "weight-smoothing", "smoothing", "plain"],
)
def test_eager_training_with_ignored_rows_follows_pytorch(torch, opts, dtype):
    """Five SGD steps of a 4-6-3 tanh MLP on batches with and without ignored rows:
    losses and weights as PyTorch's (float32 to 1e-5, float64 to 1e-11)."""
    data = with_ignored(batches(4, 3, [8] * 5, dtype=dtype), [True, False, True, True, False])
    cr.manual_seed(3)
    model = nn.MLP([4, 6, 3], activation="tanh", dtype=dtype)
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    tmodel = tmodel.to(torch.float32 if dtype == np.float32 else torch.float64)
    with torch.no_grad():
        for tp, p in zip(tmodel.parameters(), model.parameters(), strict=True):
            tp.copy_(torch.tensor(p.data))
    opt = SGD(model.parameters(), lr=0.2)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.2)
    tweight = None if "weight" not in opts else torch.tensor(W, dtype=tmodel[0].weight.dtype)
    topts = {**opts, "weight": tweight}
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-11, "atol": 0}
    for x, y in data:
        loss = F.cross_entropy(model(cr.tensor(x)), y, **opts)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(y), **topts)
        topt.zero_grad()
        tloss.backward()
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), **tol)
    for tp, p in zip(tmodel.parameters(), model.parameters(), strict=True):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), **tol)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------- scikit-learn estimators
@pytest.mark.parametrize(
    "kind, params, target",
    [
        ("classifier", dict(), "labels"),
        ("classifier", dict(solver="sgd", dropout=0.2, l1=0.01), "labels"),
        ("classifier", dict(l1=0.01), "binary"),
        ("classifier", dict(), "multilabel"),
        ("regressor", dict(l1=0.01), "real"),
        ("regressor", dict(loss="poisson"), "counts"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sample_weighted_fits_compile_bit_for_bit(kind, params, target, dtype, monkeypatch):
    """fit(X, y, sample_weight) replays its step (it used to train eagerly): the same
    weights and loss curve as compile=False, no fallback warning, and replays happened."""
    import warnings

    pytest.importorskip("sklearn")
    import chainrule.train.loop as loop
    from chainrule.sklearn import MLPClassifier, MLPRegressor

    steps = []
    loop_compile = loop.compile_step
    monkeypatch.setattr(
        loop, "compile_step", lambda fn, **kw: steps.append(loop_compile(fn, **kw)) or steps[-1]
    )
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 4)).astype(dtype)
    y = rng.integers(0, 3, 90)
    targets = {
        "labels": y,
        "binary": y == 1,
        "multilabel": np.stack([y == 0, y == 2], axis=1).astype(int),
        "real": X[:, 0] - X[:, 1],
        "counts": rng.poisson(1.0, 90).astype(np.float64),  # zeros among them
    }[target]
    sample_weight = rng.random(90) * 2
    sample_weight[:32] = 0.0  # a first batch that weighs nothing: Σw is taken as 1
    cls = MLPClassifier if kind == "classifier" else MLPRegressor
    fits = []
    for compiled in (False, True):
        est = cls(
            hidden_layer_sizes=(8,),
            batch_size=32,
            max_iter=6,
            random_state=0,
            learning_rate_init=0.01,
            shuffle=False,
            compile=compiled,
            **params,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # sklearn's ConvergenceWarning
            warnings.simplefilter("error", RuntimeWarning)  # a refused capture warns
            est.fit(X, targets, sample_weight=sample_weight)
        fits.append(est)
    eager, comp = fits
    assert steps and all(step.replays > 0 and step.refused is None for step in steps)
    assert comp.loss_curve_ == eager.loss_curve_
    for a, b in zip(eager.coefs_ + eager.intercepts_, comp.coefs_ + comp.intercepts_, strict=True):
        assert a.tobytes() == b.tobytes()


class _Net(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.fc1 = nn.Linear(4, 6, dtype=dtype)
        self.fc2 = nn.Linear(6, 3, dtype=dtype)


@pytest.mark.parametrize("layout", ["rows end to end", "transposed view"])
@pytest.mark.parametrize("label_dtype", [np.int64, np.int32, np.uint8])
def test_the_label_entries_picked_by_flat_index_give_eagers_bits(layout, label_dtype):
    """Labels range-checked first are lowered to a flat index ``k · C + y_k`` for the
    loss's gather and δ's minus one; logits whose rows do not lie end to end (here the
    transposed view of ``W hᵀ``) take the row-and-label index at replay instead."""

    def make():
        model = _Net(np.float32)
        opt = SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            h = F.tanh(model.fc1(cr.as_tensor(x)))
            if layout == "transposed view":
                logits = (model.fc2.weight @ h.T).T + model.fc2.bias
            else:
                logits = model.fc2(h)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        return model, opt, step

    data = [(x, y.astype(label_dtype)) for x, y in batches(4, 3, [8] * 6)]
    compiled = assert_same(make, data, replays_at_least=3)[2]
    source = compiled._latest().source
    assert ".take(i" in source and ".flags.c_contiguous:" in source
