"""DOT output: well-formed, CS231n-style wires, and rendered by Graphviz when present."""

import html
import re
import shutil
import subprocess

import pytest

from chainrule.explain import examples, explain_expression
from chainrule.explain.dot import NOT_FOUND, GraphvizNotFoundError, render


def structure(dot):
    """A small structural check that needs no Graphviz: returns (node ids, edges)."""
    assert dot.startswith("digraph chainrule {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    nodes = set(re.findall(r"^  (n\d+|out) \[", dot, re.M))
    edges = re.findall(r"^  (n\d+) -> (n\d+|out) \[", dot, re.M)
    for a, b in edges:
        assert a in nodes and b in nodes, (a, b)
    # every HTML-like label is balanced
    for label in re.findall(r"label=<(.*?)>\];?$", dot, re.M):
        assert label.count("<font") == label.count("</font>")
    return nodes, edges


@pytest.mark.parametrize("name", list(examples.EXAMPLES))
def test_dot_is_well_formed(name):
    expl = examples.get(name).explain()
    nodes, edges = structure(expl.dot())
    drawn = [n for n in expl.nodes if not n.folded]
    assert len(nodes) == len(drawn) + 1  # + the invisible end of the output wire
    assert len(edges) == sum(1 for e in expl.edges if not expl.nodes[e.src].folded) + 1


def test_wires_carry_value_and_gradient():
    dot = explain_expression("(x+y)*z", "x=-2,y=5,z=-4").dot()
    assert re.search(r'color="#1b7f3b">x = −2</font><br/><font color="#d62728">−4<', dot)
    assert re.search(r'color="#1b7f3b">f = −12</font><br/><font color="#d62728">1<', dot)
    assert 'label="+"' in dot and 'label="×"' in dot


def test_labels_are_escaped():
    import chainrule as cr

    x = cr.tensor(1.0, requires_grad=True)
    x.name = 'a<b>&"c'
    from chainrule.explain import explain

    dot = explain(x * 2).dot()
    structure(dot)
    assert "a&lt;b&gt;&amp;&quot;c" in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
@pytest.mark.parametrize("name", list(examples.EXAMPLES))
def test_graphviz_parses_the_dot(name, tmp_path):
    expl = examples.get(name).explain()
    proc = subprocess.run(["dot", "-Tsvg"], input=expl.dot().encode(), capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Warning" not in proc.stderr, proc.stderr.decode()
    svg = html.unescape(proc.stdout.decode())  # Graphviz writes node-x as node&#45;x
    drawn = [n for n in expl.nodes if not n.folded]
    assert svg.count('class="node"') == len(drawn)  # the invisible end is not drawn
    for n in drawn:
        assert f'id="node-{n.name}"' in svg
    png = render(expl, tmp_path / "g.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_without_graphviz(monkeypatch, tmp_path):
    # cr.explain is the function, so reach the module through sys.modules, not by path
    import sys

    monkeypatch.setattr(sys.modules["chainrule.explain.dot"], "dot_program", lambda: None)
    expl = explain_expression("x*y", "x=1,y=2")
    with pytest.raises(GraphvizNotFoundError) as info:
        expl.render(tmp_path / "g.svg")
    assert str(info.value) == NOT_FOUND
    assert isinstance(info.value, OSError)
    with pytest.raises(ValueError, match="svg"):
        expl.render(tmp_path / "g.gif")
