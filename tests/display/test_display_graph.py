"""Graph pictures: SVG drawn by chainrule's own layout, valid XML, every node's value and
gradient on it; works with Graphviz's ``dot`` hidden from PATH."""

import json
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import chainrule as cr
from chainrule.display import draw
from chainrule.display.graph import graph_svg
from chainrule.explain import explain_expression, fmt
from chainrule.explain.dot import GraphvizNotFoundError, wire_grad, wire_value

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg):
    root = ET.fromstring(svg)  # raises on malformed XML
    assert root.tag == SVG + "svg"
    return root


def texts(root):
    return ["".join(t.itertext()) for t in root.iter(SVG + "text")]


def lecture_graph():
    x = cr.tensor(-2.0, dtype="float64", requires_grad=True)
    y = cr.tensor(5.0, dtype="float64", requires_grad=True)
    z = cr.tensor(-4.0, dtype="float64", requires_grad=True)
    x.name, y.name, z.name = "x", "y", "z"
    f = (x + y) * z
    f.name = "f"
    return f, (x, y, z)


def test_every_node_carries_its_value_and_gradient():
    f, leaves = lecture_graph()
    picture = draw(f)
    root = parse(picture.svg)
    nodes = {g.get("data-node"): g for g in root.iter(SVG + "g") if g.get("data-node")}
    expl = picture.explanation
    assert set(nodes) == {n.name for n in expl.nodes}
    f.backward()
    engine = {t.name: t.grad.item() for t in leaves}
    assert engine == {"x": -4.0, "y": -4.0, "z": 3.0}
    for n in expl.nodes:
        g = nodes[n.name]
        assert json.loads(g.get("data-value")) == float(n.value)
        assert json.loads(g.get("data-grad")) == float(n.grad)
        if n.name in engine:
            assert json.loads(g.get("data-grad")) == engine[n.name]
    shown = texts(root)
    for n in expl.nodes:  # visible: each value on its wire, each gradient in red
        assert wire_value(n) in shown
        assert wire_grad(n.grad) in shown
    assert {"x = −2", "y = 5", "z = −4", "q1 = 3", "f = −12"} <= set(shown)
    assert {"−4", "3", "1"} <= set(shown)


def test_vector_nodes_show_shapes_and_keep_full_numbers():
    W = cr.tensor([[0.1, 0.5], [-0.3, 0.8]], dtype="float64", requires_grad=True)
    x = cr.tensor([[0.2], [0.4]], dtype="float64", requires_grad=True)
    W.name, x.name = "W", "x"
    q = W @ x
    f = (q * q).sum()
    root = parse(draw(f).svg)
    w = next(g for g in root.iter(SVG + "g") if g.get("data-node") == "W")
    qn = np.array([[0.22], [0.26]])
    assert np.allclose(json.loads(w.get("data-grad")), 2 * qn @ x.numpy().T)
    assert np.allclose(json.loads(w.get("data-value")), W.numpy())


def test_merges_show_the_sum_of_their_branches():
    expl = explain_expression("x*y + x", "x=3,y=-4")
    shown = texts(parse(graph_svg(expl)))
    assert "−3" in shown  # ∂f/∂x = y + 1 in x's box
    expl2 = explain_expression("q = x*y; q*q + q", "x=1,y=2")
    shown2 = texts(parse(graph_svg(expl2)))
    assert "Σ " + fmt.short(expl2.gradients["q"], 3) in shown2  # 2q + 1 = 5


def test_two_pictures_never_share_an_id():
    f, _ = lecture_graph()
    a, b = draw(f).svg, draw(f).svg
    ids_a = {e.get("id") for e in parse(a).iter() if e.get("id")}
    ids_b = {e.get("id") for e in parse(b).iter() if e.get("id")}
    assert ids_a and not ids_a & ids_b
    for svg, ids in ((a, ids_a), (b, ids_b)):  # the wires point at their own marker
        marker = next(i for i in ids if i.endswith("-arrow"))
        assert f"url(#{marker})" in svg


def test_works_with_dot_hidden_from_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dot anywhere
    assert shutil.which("dot") is None
    f, _ = lecture_graph()
    picture = draw(f, layout="auto")  # auto falls back to chainrule's layout
    root = parse(picture.svg)
    assert root.get("data-layout") == "builtin"
    assert "f = −12" in texts(root)
    assert picture.save(tmp_path / "g.svg").read_text(encoding="utf-8") == picture.svg
    with pytest.raises(GraphvizNotFoundError, match="Graphviz 'dot' not found"):
        draw(f, layout="graphviz")
    with pytest.raises(GraphvizNotFoundError):
        picture.save(tmp_path / "g.png")
    assert cr.display.mimebundle(cr.explain(f))["image/svg+xml"].startswith("<svg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graphviz_layout_draws_the_same_nodes(tmp_path):
    f, _ = lecture_graph()
    root = parse(draw(f, layout="graphviz").svg)
    assert root.get("data-layout") == "graphviz"
    assert {g.get("data-node") for g in root.iter(SVG + "g") if g.get("data-node")} == {
        "x",
        "y",
        "z",
        "q1",
        "f",
    }
    png = draw(f).save(tmp_path / "g.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_draw_accepts_expressions_and_explanations_and_names_bad_input(tmp_path):
    p = draw("(x+y)*z", at="x=-2,y=5,z=-4")
    assert "q1 = 3" in texts(parse(p.svg))
    assert draw(p.explanation).explanation is p.explanation
    bundle = p._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "image/svg+xml"}
    assert "∂f/∂input" in bundle["text/plain"]
    with pytest.raises(TypeError, match="draw: expected a Tensor"):
        draw(3.0)
    with pytest.raises(ValueError, match=r"draw: cannot save as 'g\.gif'"):
        p.save(tmp_path / "g.gif")
    with pytest.raises(ValueError, match="layout: expected"):
        draw(p.explanation, layout="circo")


def test_an_explanation_draws_itself():
    expl = explain_expression("(x+y)*z", "x=-2,y=5,z=-4")
    picture = expl.draw()
    assert picture.explanation is expl
    assert texts(parse(picture.svg)) == texts(parse(draw(expl).svg))
    assert "q1 = 3" in texts(parse(picture.svg))
