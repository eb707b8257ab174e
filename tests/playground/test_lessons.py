"""The lecture's warnings, seen through the page's live stream (the real server)."""

import numpy as np

from .conftest import configure, step


def kinds(header):
    return {f["kind"]: f for f in header["findings"]}


def test_zero_init_stays_at_a_critical_point(server):
    with server.ws() as ws:
        configure(ws, data="circles", init="zeros", layers=[4, 4], lr=0.3)
        header, _ = step(ws, 120)
    for layer in header["weights"]:
        assert all(w == 0.0 for row in layer["W"] for w in row)  # never leaves W = 0
    assert header["layers"][0]["grad_norm"] == 0.0  # ∂L/∂W₁ = δ₁ xᵀ with δ₁ = W₂ᵀδ₂ = 0
    assert abs(header["losses"]["train_loss"] - np.log(2)) < 0.01  # still guessing
    found = kinds(header)
    assert "no-gradient" in found or "symmetry" in found


def test_constant_init_keeps_the_units_identical(server):
    with server.ws() as ws:
        configure(ws, data="circles", init="constant", scale=0.2, layers=[4, 4], lr=0.3)
        header, _ = step(ws, 120)
    for layer in header["weights"][:-1]:  # every hidden unit the same as its neighbours
        W = np.array(layer["W"])
        assert np.ptp(W, axis=0).max() < 1e-6 and np.ptp(layer["b"]) < 1e-6
    assert np.ptp(np.array(header["weights"][0]["W"])) > 0  # they moved, but together
    assert kinds(header)["symmetry"]["severity"] == "error"


def test_a_deep_sigmoid_net_shows_vanishing_delta(server):
    with server.ws() as ws:
        configure(ws, data="circles", act="sigmoid", init="xavier", layers=[8] * 6, lr=0.1)
        header, _ = step(ws, 60)
    deltas = [layer["delta_norm"] for layer in header["layers"]]
    assert deltas[0] < 0.05 * deltas[-1]  # ‖δ‖ shrinks on the way back
    assert sum(a < b for a, b in zip(deltas, deltas[1:])) >= 5
    assert "vanishing-gradients" in kinds(header)


def test_divergence_stops_and_says_why(server):
    with server.ws() as ws:
        configure(ws, data="plane", lr=3, opt="momentum", layers=[8, 8], act="relu", init="he")
        header, _ = step(ws, 200)
    assert not header["running"] and header["step"] < 200
    assert "loss became" in header["stop_reason"]
    found = kinds(header)
    assert found["non-finite"]["severity"] == "error"
    assert {"lr-too-high", "exploding-gradients"} & set(found)  # the why
