"""What cr.compile refuses (by name, with the user's line), and when it captures again."""

import numpy as np
import pytest
from compile_harness import batches

import chainrule as cr
from chainrule import nn
from chainrule.compile import CaptureError
from chainrule.nn import functional as F
from chainrule.optim import SGD


def setup(sizes=(4, 5, 3)):
    cr.manual_seed(0)
    model = nn.MLP(list(sizes), activation="tanh")
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt


DATA = batches(4, 3, [8, 8, 8, 8])


@pytest.mark.parametrize(
    "read, what",
    [
        (lambda loss: loss.item(), r"\.item\(\)"),
        (lambda loss: float(loss), r"float\(tensor\)"),
        (lambda loss: bool(loss > 1), r"bool\(tensor\)"),
        (lambda loss: loss.numpy(), r"\.numpy\(\)"),
        (lambda loss: print(loss), "printing a tensor"),
    ],
    ids=["item", "float", "bool", "numpy", "print"],
)
def test_reading_a_value_into_python_names_the_line(read, what):
    model, _ = setup()

    @cr.compile
    def step(x, y):
        loss = F.cross_entropy(model(cr.Tensor(x)), y)
        read(loss)
        return loss

    x, y = DATA[0]
    with pytest.raises(CaptureError, match=what) as info:
        step(x, y)
    message = str(info.value)
    assert "test_compile_refusals.py:" in message and "lambda loss:" in message  # the line
    assert "Move it out of the step" in message
    assert step.fn(x, y) is not None  # eagerly the step is fine


def test_create_graph_is_refused_by_name():
    model, _ = setup()

    @cr.compile
    def step(x, y):
        loss = F.cross_entropy(model(cr.Tensor(x)), y)
        loss.backward(create_graph=True)
        return loss

    with pytest.raises(CaptureError, match="create_graph=True"):
        step(*DATA[0])


def test_hooks_are_refused_by_name():
    model, opt = setup()
    handle = model.linears[0].weight.register_hook(lambda g: g * 2)

    @cr.compile
    def step(x, y):
        loss = F.cross_entropy(model(cr.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    with pytest.raises(CaptureError, match="hook"):
        step(*DATA[0])
    handle.remove()
    # forward hooks (a diagnostics monitor) make the calls they watch run eagerly
    for x, y in DATA:
        step(x, y)
    seen = []
    hook = model.layers[1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    captures, replays = step.captures, step.replays
    step(*DATA[0])
    assert seen == [(8, 5)] and (step.captures, step.replays) == (captures, replays)
    hook.remove()
    step(*DATA[1])
    assert step.replays == replays + 1  # the capture survived the watched call

    @cr.compile
    def hooked(x, y):
        h = model.linears[0](cr.Tensor(x))
        h.register_hook(lambda g: g)
        return h.sum()

    with pytest.raises(CaptureError, match="register_hook"):
        hooked(*DATA[0])


def test_in_place_tensor_ops_are_refused():
    model, _ = setup()

    @cr.compile
    def step(x, y):
        out = model(cr.Tensor(x))
        out.zero_()
        return out.sum()

    with pytest.raises(CaptureError, match=r"in-place tensor operation Tensor\.zero_"):
        step(*DATA[0])


def test_an_array_that_changes_between_calls_is_refused():
    model, _ = setup()
    rng = np.random.default_rng(0)

    @cr.compile
    def step(x, y):
        noise = rng.standard_normal(x.shape).astype(np.float32)  # not chainrule's generator
        return F.cross_entropy(model(cr.Tensor(x + noise)), y)

    step(*DATA[0])
    with pytest.raises(CaptureError, match="changes between calls"):
        step(*DATA[1])


def test_control_flow_that_depends_on_values_is_refused():
    model, _ = setup()
    calls = []

    @cr.compile
    def step(x, y):
        calls.append(1)
        out = model(cr.Tensor(x))
        if len(calls) % 2:  # a different graph on every other call
            out = out * 2.0
        return F.cross_entropy(out, y)

    step(*DATA[0])
    step(*DATA[1])
    step(*DATA[2])
    with pytest.raises(CaptureError, match="ran differently on two calls"):
        step(*DATA[3])


def test_optimizer_closure_is_refused():
    model, opt = setup()

    @cr.compile
    def step(x, y):
        def closure():
            return F.cross_entropy(model(cr.Tensor(x)), y)

        return opt.step(closure)

    with pytest.raises(CaptureError, match="closure"):
        step(*DATA[0])


def test_anomaly_mode_runs_eagerly():
    model, _ = setup()
    step = cr.compile(lambda x, y: F.cross_entropy(model(cr.Tensor(x)), y))
    with cr.detect_anomaly():
        for x, y in DATA:
            step(x, y)
    assert step.captures == 0 and step.replays == 0


# ---------------------------------------------------------------- capturing again
def fit_step(model, opt):
    def step(x, y):
        loss = F.cross_entropy(model(cr.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return cr.compile(step)


def test_a_dataset_not_a_multiple_of_the_batch_captures_the_last_batch_once():
    model, opt = setup()
    step = fit_step(model, opt)
    loader = cr.data.DataLoader(
        cr.data.ArrayDataset(*batches(4, 3, [21])[0]), batch_size=8, shuffle=True, rng=0
    )
    for _ in range(4):
        for x, y in loader:
            step(x, y)
    assert step.captures == 4  # two per signature: batches of 8 and the last one of 5
    assert step.replays == 4 * 3 - 4


def test_recapture_after_eval_frozen_parameter_new_layer_or_new_group():
    model, opt = setup()
    step = fit_step(model, opt)
    for x, y in DATA:
        step(x, y)
    assert (step.captures, step.replays) == (2, 2)
    model.eval()  # a guard sees the training flag
    step(*DATA[0])
    assert step.captures == 3
    model.train()
    step(*DATA[0])
    step(*DATA[1])
    n = step.replays
    model.linears[0].bias.requires_grad_(False)
    step(*DATA[2])
    assert step.replays == n and step.captures == 5
    model.linears[0].bias.requires_grad_(True)
    model.layers[1] = nn.ReLU()  # a swapped activation is a new model
    step(*DATA[2])
    step(*DATA[3])
    n = step.replays
    step(*DATA[0])
    assert step.replays == n + 1
    opt.add_param_group({"params": [cr.tensor(np.zeros(3, np.float32), requires_grad=True)]})
    step(*DATA[1])
    assert step.replays == n + 1  # the optimizer's parameter set changed: captured again


def test_the_cache_is_bounded():
    model, _ = setup()
    step = cr.compile(max_cache=2)(lambda x, y: F.cross_entropy(model(cr.Tensor(x)), y))
    for n in (3, 4, 5, 3, 4, 5):
        x, y = batches(4, 3, [n])[0]
        step(x, y)
        step(x, y)
    assert len(step._cache) == 2
    assert step.captures == 12  # every size was evicted before it came back


def test_bad_arguments():
    with pytest.raises(TypeError, match="expected a function"):
        cr.compile(3)
    with pytest.raises(ValueError, match="max_cache"):
        cr.compile(lambda: None, max_cache=0)


@pytest.mark.parametrize(
    "edit, name",
    [
        (lambda w, h: w.__isub__(0.1 * w.grad), r"Tensor\.__isub__"),
        (lambda w, h: h.__setitem__(0, 5.0), r"Tensor\.__setitem__"),
        (lambda w, h: h.add_(1.0), r"Tensor\.add_"),
    ],
    ids=["-= under no_grad", "t[i] = v", "add_"],
)
def test_real_in_place_ops_are_refused_by_name(edit, name):
    params = [cr.tensor(np.ones(3, np.float32), requires_grad=True)]

    @cr.compile
    def step(x):
        w = params[0]
        h = cr.Tensor(x) * 2.0
        loss = (w * h).sum()
        loss.backward()
        with cr.no_grad():
            edit(w, h)
        return loss

    with pytest.raises(CaptureError, match=f"in-place tensor operation {name}"):
        step(np.ones(3, np.float32))


@pytest.mark.parametrize("bad", [-1, 3], ids=["negative", "too large"])
def test_labels_are_checked_at_every_replay(bad):
    """Eagerly a bad label raises; a replay must too (a negative index would otherwise
    silently pick the last class)."""
    model, opt = setup()
    step = fit_step(model, opt)
    for x, y in DATA[:3]:
        step(x, y)
    assert step.replays == 1
    x, y = DATA[3]
    y = y.copy()
    y[2] = bad
    with pytest.raises(ValueError, match=f"label {bad} is out of range for 3 classes"):
        step(x, y)


LABEL_CASES = [(d, bad) for d in ("int8", ">i4", "<i8") for bad in (-1, 3, 127)]
LABEL_CASES += [(d, bad) for d in ("uint8", ">u2") for bad in (3, 255)]


@pytest.mark.parametrize("dtype, bad", LABEL_CASES)
def test_the_replayed_label_check_sees_every_label_dtype(dtype, bad):
    """A replay tests 0 <= y < C with one reduction over the labels seen as unsigned (in
    their own byte order); it must pass every good batch and stop every bad one, with
    eager mode's message, for signed, unsigned and big-endian labels alike."""
    dtype = np.dtype(dtype)
    model, opt = setup()
    step = fit_step(model, opt)
    eager_model, eager_opt = setup()
    for x, y in DATA[:3]:
        step(x, y.astype(dtype))
        fit_step(eager_model, eager_opt).fn(x, y.astype(dtype))
    assert step.replays == 1
    assert "np_maximum.reduce(" in step.replay_source()  # the lowered form is what ran
    for a, b in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    x, y = DATA[3]
    y = y.astype(dtype)
    y[1] = bad
    with pytest.raises(ValueError, match=f"label {bad} is out of range for 3 classes.*row 1"):
        step(x, y)


NOTEBOOK_STEP = """
def step(x, y):
    loss = F.cross_entropy(model(cr.Tensor(x)), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss
"""


def notebook(source, data=()):
    """A namespace like a notebook's globals, with ``source`` run in it and ``model`` and
    ``opt`` set; the compiled ``step`` of it after one call per batch of ``data``."""
    ns = {"cr": cr, "F": F}
    exec(source, ns)
    ns["model"], ns["opt"] = setup()
    step = cr.compile(ns["step"])
    for x, y in data:
        step(x, y)
    return ns, step


def test_names_rebound_to_a_new_model_and_optimizer_are_captured_again():
    """A notebook re-runs the cell that makes ``model`` and ``opt``: the step's globals
    now name new objects, and the next call must train those (eagerly: the new model),
    not replay the old ones."""
    data = batches(4, 3, [8] * 8)
    ns, step = notebook(NOTEBOOK_STEP, data[:4])
    assert step.replays == 2
    ns["model"], ns["opt"] = setup()  # the cell again: same initial weights, new objects
    eager, _ = notebook(NOTEBOOK_STEP)
    for x, y in data[4:]:
        assert step(x, y).data.tobytes() == eager["step"](x, y).data.tobytes()
    for a, b in zip(ns["model"].parameters(), eager["model"].parameters()):
        assert a.data.tobytes() == b.data.tobytes()
    assert step.replays == 4  # captured twice on the new objects, then replayed


def test_a_closure_variable_rebound_is_captured_again():
    model, opt = setup()
    scale = [2.0]

    def make():
        factor = scale[0]

        def step(x, y):
            loss = F.cross_entropy(model(cr.Tensor(x)) * factor, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        return step

    step = cr.compile(make())
    for x, y in DATA[:3]:
        step(x, y)
    assert step.replays == 1
    cell = step.fn.__closure__[[c for c in step.fn.__code__.co_freevars].index("factor")]
    cell.cell_contents = 3.0  # what `nonlocal factor; factor = 3.0` does
    captures = step.captures
    step(*DATA[3])
    assert step.captures == captures + 1  # not a replay with the old factor baked in


HELPER_STEP = """
def forward(x):
    return model(cr.Tensor(x))
""" + NOTEBOOK_STEP.replace("model(cr.Tensor(x))", "forward(x)")


def test_a_name_rebound_behind_a_helper_function_is_seen():
    """The step reads ``model`` through a module-level helper: rebinding ``model`` is
    seen there too (names are followed into the step's own functions)."""
    data = batches(4, 3, [8] * 6)
    ns, step = notebook(HELPER_STEP, data[:3])
    assert step.replays == 1
    new_model, _ = setup()
    ns["model"] = new_model
    captures = step.captures
    step(*data[3])
    assert step.captures == captures + 1
    assert all(p.grad is not None for p in new_model.parameters())  # its forward ran


class Trainer:
    def __init__(self):
        self.model, self.opt = setup()

    def step(self, x, y):
        loss = F.cross_entropy(self.model(cr.Tensor(x)), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss


def test_an_attribute_of_self_rebound_is_seen():
    trainer = Trainer()
    step = cr.compile(trainer.step)
    for x, y in DATA[:3]:
        step(x, y)
    assert step.replays == 1
    trainer.model, trainer.opt = setup()  # a method step whose trainer got new objects
    eager = Trainer()
    for x, y in DATA[3:]:
        assert step(x, y).data.tobytes() == eager.step(x, y).data.tobytes()
    for a, b in zip(trainer.model.parameters(), eager.model.parameters()):
        assert a.data.tobytes() == b.data.tobytes()
