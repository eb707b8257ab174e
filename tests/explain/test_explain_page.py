"""The step-through HTML page: self-contained, and correct when clicked through in Chromium.

The browser tests need the Python package ``playwright`` and Debian's Chromium at
/usr/bin/chromium (``apt-get install -y chromium``; never ``playwright install``); they
skip cleanly when either is missing.
"""

import json
import math
import os
import re
import shutil

import numpy as np
import pytest

from chainrule.explain import examples, explain_expression, fmt
from headless_chromium import ARGS, CHROMIUM

LAYOUTS = ["builtin"] + (["graphviz"] if shutil.which("dot") else [])


# --------------------------------------------------------------------- static checks
@pytest.mark.parametrize("layout", LAYOUTS)
def test_page_is_self_contained(layout):
    page = examples.get("max-gate").explain().html(layout=layout)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    assert f'data-layout="{layout}"' in page
    for hook in (
        'id="narration"',
        'id="prev"',
        'id="next"',
        'id="reset"',
        "◀ Prev",
        "Next ▶",
        'data-node="x"',
        'data-edge="0"',
        "data-grad=",
        'id="explain-data"',
    ):
        assert hook in page


def test_page_embeds_the_steps_as_json():
    expl = examples.get("branches").explain()
    page = expl.html(layout="builtin")
    raw = re.search(
        r'<script type="application/json" id="explain-data">(.*?)</script>', page, re.S
    ).group(1)
    data = json.loads(raw)
    assert len(data["steps"]) == len(expl.steps)
    assert [s["kind"] for s in data["steps"]] == [s.kind for s in expl.steps]
    assert data["steps"][-1]["lines"] == expl.steps[-1].lines


def test_page_handles_nan_and_awkward_names(tmp_path):
    import chainrule as cr
    from chainrule.explain import explain

    x = cr.tensor(-1.0, requires_grad=True)
    x.name = '</script><b x="1">'
    with np.errstate(invalid="ignore"):
        y = cr.log(x)
    page = explain(y).html(tmp_path / "p.html", layout="builtin")
    assert "</script><b" not in page.split('id="explain-data">')[1].split("</script>")[0]
    assert (tmp_path / "p.html").read_text(encoding="utf-8") == page
    assert "nan" in page


def test_html_written_by_explanation(tmp_path):
    path = tmp_path / "out.html"
    text = explain_expression("x*y", "x=2,y=3").html(path)
    assert path.read_text(encoding="utf-8") == text


# --------------------------------------------------------------------- in Chromium
def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright)")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    return sync_playwright


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _browser_or_skip()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _number(text):
    if isinstance(text, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[text]
    return text


def _array(attr):
    return np.vectorize(_number, otypes=[float])(np.asarray(json.loads(attr), dtype=object))


def _open(browser, expl, tmp_path, layout):
    path = tmp_path / f"page-{layout}.html"
    expl.html(path, layout=layout)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on(
        "request",
        lambda r: errors.append(f"request {r.url}") if not r.url.startswith("file://") else None,
    )
    page.goto(path.as_uri())
    return page, errors


def _visible_grad(page, selector):
    el = page.locator(selector)
    assert el.count() == 1, selector
    assert "hidden" not in (el.get_attribute("class") or "")
    assert el.is_visible()
    return el.get_attribute("data-grad"), el.text_content()


@pytest.mark.browser
@pytest.mark.parametrize("name", ["add-mul", "max-gate", "branches", "norm-Wx", "mlp"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_click_through_every_step(browser, tmp_path, name, layout):
    expl = examples.get(name).explain()
    page, errors = _open(browser, expl, tmp_path, layout)
    steps = expl.steps
    assert page.get_attribute("body", "data-step") == "0"
    assert page.locator("#prev").is_disabled() and not page.locator("#next").is_disabled()
    # before the backward pass no gradient is shown
    assert page.locator("#graph text.grad:not(.hidden)").count() == 0
    for k in range(1, len(steps)):
        page.click("#next")
        st = steps[k]
        assert page.get_attribute("body", "data-step") == str(k)
        assert page.text_content("#step-counter") == f"Step {k + 1} of {len(steps)}"
        narration = page.inner_text("#narration")
        assert st.lines[0] in narration
        if st.kind == "edge":
            e = expl.edges[st.edge]
            sel = f'#graph .wire[data-edge="{e.id}"]'
            assert "active" in page.get_attribute(sel, "class")
            attr, text = _visible_grad(page, f"{sel} text.grad")
            # the gradient shown on the wire is the engine's, to the last bit
            np.testing.assert_array_equal(_array(attr), e.grad)
            assert text == fmt.short(e.grad, 3)
            assert fmt.array(e.grad, expl.precision) in narration
    assert page.locator("#next").is_disabled()
    # the final gradients (graph and table) equal a plain backward() on the same graph
    for node in (n for n in expl.nodes if n.kind == "input"):
        want = expl.gradients[node.name]
        attr, _ = _visible_grad(page, f'#graph .node[data-node="{node.name}"] text.grad')
        np.testing.assert_array_equal(_array(attr), want)
        attr, text = _visible_grad(page, f'#gradients tr[data-input="{node.name}"] td.grad')
        np.testing.assert_array_equal(_array(attr), want)
        assert text == fmt.array(want, expl.precision)
    assert errors == []
    page.close()


@pytest.mark.browser
def test_page_gradients_equal_a_fresh_backward(browser, tmp_path):
    """Independent of explain's own records: rebuild the MLP, call backward(), compare."""
    L, leaves = examples.mlp_graph()
    from chainrule.explain import explain

    expl = explain(L)
    L.backward()
    page, errors = _open(browser, expl, tmp_path, "builtin")
    page.keyboard.press("End")
    for name in ("W0", "b0", "W1", "b1"):
        attr, _ = _visible_grad(page, f'#gradients tr[data-input="{name}"] td.grad')
        np.testing.assert_array_equal(_array(attr), leaves[name].grad.numpy())
    assert errors == []
    page.close()


@pytest.mark.browser
def test_keyboard_reset_and_step_list(browser, tmp_path):
    expl = examples.get("add-mul").explain()
    page, errors = _open(browser, expl, tmp_path, "builtin")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("body", "data-step") == "2"
    page.keyboard.press("ArrowLeft")
    assert page.get_attribute("body", "data-step") == "1"
    page.keyboard.press("End")
    assert page.get_attribute("body", "data-step") == str(len(expl.steps) - 1)
    page.click("#reset")
    assert page.get_attribute("body", "data-step") == "0"
    assert page.locator("#graph text.grad:not(.hidden)").count() == 0
    page.click('#step-list li[data-step="5"] button')
    assert page.get_attribute("body", "data-step") == "5"
    assert page.get_attribute("body", "data-phase") == "backward"
    # forward values appear node by node
    page.click("#reset")
    q = page.locator('#graph .wire[data-src="q"] text.val')
    assert "hidden" in q.get_attribute("class")
    page.click("#next")
    assert "hidden" not in q.get_attribute("class")
    assert q.text_content() == "q = 3"
    assert errors == []
    page.close()


@pytest.mark.browser
def test_screenshot(browser, tmp_path):
    """One screenshot per run (kept under the test's tmp_path) to look at by eye."""
    expl = examples.get("sigmoid-neuron").explain()
    page, errors = _open(browser, expl, tmp_path, LAYOUTS[-1])
    for _ in range(9):
        page.click("#next")
    shot = tmp_path / "sigmoid-neuron.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert errors == []
    page.close()


def _outside(box, frame):
    return (
        box["x"] < frame["x"] - 0.5
        or box["y"] < frame["y"] - 0.5
        or box["x"] + box["width"] > frame["x"] + frame["width"] + 0.5
        or box["y"] + box["height"] > frame["y"] + frame["height"] + 0.5
    )


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 800])
@pytest.mark.parametrize("name", ["max-gate", "norm-Wx", "mlp"])  # small, matrices, long
@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_whole_graph_lies_inside_its_panel(browser, tmp_path, name, layout, width):
    """Every node, and every value and gradient on a wire, is drawn inside the graph
    panel: nothing is cut off or left to a horizontal scroll bar (the mlp page used to
    draw a third of its graph outside)."""
    expl = examples.get(name).explain()
    path = tmp_path / f"{name}-{layout}.html"
    expl.html(path, layout=layout)
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(path.as_uri())
    page.keyboard.press("End")  # every gradient revealed
    panel = page.locator("#graph-panel")
    frame = panel.bounding_box()
    assert panel.evaluate("p => p.scrollWidth <= p.clientWidth")
    nodes = page.locator("#graph .node").all()
    texts = page.locator("#graph .wire text:not(.hidden)").all()
    assert len(nodes) == sum(1 for n in expl.nodes if not n.folded)
    assert texts
    outside = [el.get_attribute("data-node") for el in nodes if _outside(el.bounding_box(), frame)]
    outside += [el.text_content() for el in texts if _outside(el.bounding_box(), frame)]
    assert outside == []
    # ... and still readable: fitting by shrinking a wide picture to a sliver does not count
    scale = page.evaluate(
        "() => { const g = document.getElementById('graph');"
        " return g.getBoundingClientRect().width / g.viewBox.baseVal.width; }"
    )
    assert 12.5 * scale >= 10, f"wire labels drawn at {12.5 * scale:.1f} px"
    page.close()
