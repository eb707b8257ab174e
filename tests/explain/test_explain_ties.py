"""Ties and kinks: the narration says what the engine does there, and it is PyTorch's rule.

Where a derivative is not defined (max(x, y) with x = y, relu and abs at 0, clip at a
bound, several elements tying for a max), the engine follows a convention. The sentence
on each such edge comes from the primitive's description (``tie``/``ties``); these tests
check every claim it makes against the engine's own gradients, and the gradients against
PyTorch's.
"""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.explain import explain, explain_expression

torch = pytest.importorskip("torch")


def _leaf(name, value):
    t = cr.tensor(np.asarray(value, dtype=np.float64), requires_grad=True)
    t.name = name
    return t


def _edges(expl):
    return [st for st in expl.steps if st.kind == "edge"]


def _check_claims(expl):
    """Every tie sentence matches the numbers the engine sent along that edge."""
    checked = 0
    for st in _edges(expl):
        head = st.lines[0]
        up = np.broadcast_to(np.asarray(st.upstream, dtype=np.float64), np.shape(st.downstream))
        down = np.asarray(st.downstream, dtype=np.float64)
        if "the other gets 0" in head or "the others get 0" in head:
            # no tie here: the input either won (all of g) or lost (0), elementwise
            assert np.all((down == 0) | (down == up)), head
        if "each gets half" in head:
            assert np.any(np.isclose(down, up / 2) & (up != 0)), head
            checked += 1
        if "no gradient passes there" in head:
            assert np.any((down == 0) & (up != 0)), head
            checked += 1
        if "passes the whole gradient there" in head:
            assert np.array_equal(down, up), head
            checked += 1
        if "1/k each" in head:
            nonzero = down[down != 0]
            g = np.asarray(st.upstream, dtype=np.float64).sum()  # a full reduction: one g
            assert nonzero.size > 1 and np.allclose(nonzero * nonzero.size, g), head
            checked += 1
        if "the slope α" in head or "α·e⁰ = α" in head:
            checked += 1
    return checked


def test_max_of_a_tie_says_the_gradient_is_split_as_the_engine_does():
    expl = explain_expression("max(x, y) * z", "x=2,y=2,z=3")
    text = expl.text()
    assert "the other gets 0" not in text  # the old narration claimed it while both got 1.5
    assert "1 if x > y, else 0 = 0.5" not in text
    assert "x and y tie: neither won, so each gets half" in text
    assert "1 if x > y, ½ if x = y, else 0 = 0.5" in text
    assert expl.gradients["x"] == expl.gradients["y"] == 1.5
    assert _check_claims(expl) == 2
    tx, ty = (torch.tensor(2.0, dtype=torch.float64, requires_grad=True) for _ in "xy")
    (torch.maximum(tx, ty) * 3).backward()
    assert tx.grad.item() == expl.gradients["x"] and ty.grad.item() == expl.gradients["y"]


def test_max_without_a_tie_still_routes_to_the_winner():
    expl = explain_expression("max(x, y) * z", "x=3,y=2,z=3")
    assert "only the input that won gets the gradient; the other gets 0" in expl.text()
    assert "tie" not in expl.text()
    assert expl.gradients["x"] == 3 and expl.gradients["y"] == 0
    _check_claims(expl)


def test_min_of_a_tie_and_partial_ties_on_vectors():
    expl = explain_expression("sum(min(x, w))", "x=[1,3,3],w=[1,2,3]")
    text = expl.text()
    assert "tie: neither won, so each gets half of the upstream gradient" in text
    assert "at 2 of 3 elements" in text
    np.testing.assert_array_equal(expl.gradients["x"], [0.5, 0, 0.5])
    np.testing.assert_array_equal(expl.gradients["w"], [0.5, 1, 0.5])
    assert _check_claims(expl) == 2
    tx = torch.tensor([1.0, 3, 3], dtype=torch.float64, requires_grad=True)
    tw = torch.tensor([1.0, 2, 3], dtype=torch.float64, requires_grad=True)
    torch.minimum(tx, tw).sum().backward()
    np.testing.assert_array_equal(tx.grad.numpy(), expl.gradients["x"])
    np.testing.assert_array_equal(tw.grad.numpy(), expl.gradients["w"])


def test_relu_and_abs_at_their_kinks():
    expl = explain_expression("relu(y) + abs(z)", "y=0,z=0")
    text = expl.text()
    assert "y = 0 is the kink: the engine takes relu'(0) = 0" in text
    assert "at the kink z = 0: the engine takes sign(0) = 0" in text
    assert expl.gradients["y"] == 0 and expl.gradients["z"] == 0
    assert _check_claims(expl) == 2
    ty, tz = (torch.tensor(0.0, dtype=torch.float64, requires_grad=True) for _ in "yz")
    (torch.relu(ty) + torch.abs(tz)).backward()
    assert ty.grad.item() == 0 and tz.grad.item() == 0
    away = explain_expression("relu(y) + abs(z)", "y=1,z=-1").text()
    assert "kink" not in away


def test_a_max_reduction_with_tied_elements_shares_the_gradient():
    expl = explain_expression("max(x)", "x=[1,3,3]")
    assert "several elements tie for the largest" in expl.text()
    np.testing.assert_array_equal(expl.gradients["x"], [0, 0.5, 0.5])
    assert _check_claims(expl) == 1
    tx = torch.tensor([1.0, 3, 3], dtype=torch.float64, requires_grad=True)
    torch.amax(tx).backward()
    np.testing.assert_array_equal(tx.grad.numpy(), expl.gradients["x"])


def test_clip_at_its_bounds_passes_the_gradient():
    x = _leaf("x", [-1.0, 0.5, 1.0, 2.0])
    expl = explain(cr.clip(x, -1.0, 1.0).sum())
    text = expl.text()
    assert "at a bound of the interval" in text and "at 2 of 4 elements" in text
    np.testing.assert_array_equal(expl.gradients["x"], [1, 1, 1, 0])
    tx = torch.tensor([-1.0, 0.5, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    torch.clamp(tx, -1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(tx.grad.numpy(), expl.gradients["x"])


@pytest.mark.parametrize(
    ("ours", "theirs", "words"),
    [
        (lambda t: F.leaky_relu(t, 0.1), lambda t: torch.nn.functional.leaky_relu(t, 0.1), "α"),
        (lambda t: F.elu(t, 0.5), lambda t: torch.nn.functional.elu(t, 0.5), "α·e⁰ = α"),
    ],
)
def test_kinks_of_leaky_relu_and_elu_follow_pytorch(ours, theirs, words):
    x = _leaf("x", 0.0)
    expl = explain(ours(x) * 2.0)
    assert (words in expl.text() and "kink" in expl.text()) or "sides meet" in expl.text()
    assert _check_claims(expl) == 1
    tx = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    (theirs(tx) * 2.0).backward()
    assert expl.gradients["x"] == tx.grad.item()
