"""Every built-in worked example (``--example NAME``) reproduces its slide's numbers."""

import numpy as np
import pytest

from chainrule.explain import examples


def grads(expl):
    return {f"∂{expl.output}/∂{k}": v for k, v in expl.gradients.items()}


@pytest.mark.parametrize("name", [n for n, e in examples.EXAMPLES.items() if e.expected])
def test_example_matches_the_slide(name):
    ex = examples.get(name)
    expl = ex.explain()
    known = {**expl.values, **grads(expl)}
    for key, want in ex.expected.items():
        np.testing.assert_allclose(known[key], want, atol=5e-5, err_msg=f"{name}: {key}")


def test_add_mul_exact():
    expl = examples.get("add-mul").explain()
    assert expl.values["f"] == -12 and expl.values["q"] == 3
    assert [float(expl.gradients[k]) for k in "xyz"] == [-4.0, -4.0, 3.0]
    assert "∂f/∂q = z = −4" in expl.text()


def test_sigmoid_neuron_rounded_like_the_slide():
    expl = examples.get("sigmoid-neuron").explain()
    assert round(float(expl.values["f"]), 2) == 0.73
    rounded = {k: round(float(expl.gradients[k]), 2) for k in ("w0", "x0", "w1", "x1", "b")}
    assert rounded == {"w0": -0.2, "x0": 0.39, "w1": -0.39, "x1": -0.59, "b": 0.2}
    text = expl.text()
    assert "(1 − σ)σ = (1 − 0.7311)·0.7311 = 0.1966" in text
    # with two digits, as on the slide: σ' = (1 − σ)σ = 0.2
    assert "(1 − σ)σ = (1 − 0.73)·0.73 = 0.2" in examples.get("sigmoid-neuron").explain(2).text()


def test_sigmoid_gates_agree_with_the_fused_sigmoid():
    a = examples.get("sigmoid-neuron").explain().gradients
    b = examples.get("sigmoid-gates").explain().gradients
    for k in ("w0", "x0", "w1", "x1", "b"):
        assert a[k] == pytest.approx(b[k], rel=1e-12)


def test_max_gate_patterns():
    text = examples.get("max-gate").explain().text()
    for phrase in ("add distributes", "mul switches", "max routes"):
        assert phrase in text


def test_branches():
    expl = examples.get("branches").explain()
    assert any(s.kind == "merge" and s.node == "x" for s in expl.steps)
    assert "branches add" in expl.text()


def test_norm_wx_closed_forms():
    expl = examples.get("norm-Wx").explain()
    W, x, q = expl.values["W"], expl.values["x"], expl.values["q"]
    np.testing.assert_allclose(expl.gradients["W"], 2 * q @ x.T, rtol=1e-14)
    np.testing.assert_allclose(expl.gradients["x"], 2 * W.T @ q, rtol=1e-14)
    text = expl.text()
    assert "∇W f = 2q·xᵀ" in text and "∇x f = 2Wᵀ·q" in text
    assert text.count("✓ agree") == 2 and "DIFFER" not in text


def test_mlp_delta_rule_agrees_with_the_engine():
    import chainrule as cr  # noqa: F401

    expl = examples.get("mlp").explain()
    hand = examples.delta_rule(expl.values)
    for key in ("a2", "W1", "b1", "a1", "W0", "b0"):
        np.testing.assert_allclose(hand[key], expl.gradients[key], rtol=1e-12, atol=1e-15)
    # and both agree with a plain loss.backward() on a fresh copy of the network
    L, leaves = examples.mlp_graph()
    L.backward()
    for key in ("W0", "b0", "W1", "b1"):
        np.testing.assert_array_equal(leaves[key].grad.numpy(), expl.gradients[key])
    # δ2 = p − y
    np.testing.assert_allclose(hand["a2"], hand["p"] - np.array(examples.MLP_PARAMS["y"]))
    text = expl.text()
    assert text.count("✓ agree") == 6 and "DIFFER" not in text
    assert "δ1 = W1ᵀ·δ2 • σ'(a1)" in text and "∂L/∂W1 = δ2·h1ᵀ" in text


def test_listing_and_unknown_names():
    listing = examples.listing()
    for name in examples.EXAMPLES:
        assert name in listing
    assert 'chainrule explain "q = x + y; f = q * z"' in listing
    with pytest.raises(ValueError, match="known examples: add-mul"):
        examples.get("nope")
