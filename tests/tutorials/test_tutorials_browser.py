"""A tutorial notebook executed, converted by nbconvert and opened in headless Chromium
with no kernel: the embedded explanation steps forward and backward, shows the engine's
gradients, and nothing on the page reaches the network.

Needs the Python packages nbclient, nbconvert and playwright and Debian's Chromium at
/usr/bin/chromium (never ``playwright install``); skips cleanly without them.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from headless_chromium import ARGS, CHROMIUM

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
nbconvert = pytest.importorskip("nbconvert")
pytest.importorskip("ipykernel")


NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "tutorials" / "01_chain_rule.ipynb"
FRAME = "iframe.chainrule-explain"


def to_html(nb):
    html, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    return html


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """01_chain_rule executed from scratch, as nbconvert's HTML; and the HTML nbconvert
    writes for an empty notebook (its template's own assets, for comparison)."""
    folder = tmp_path_factory.mktemp("nb")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    page = folder / "01_chain_rule.html"
    page.write_text(to_html(nb), encoding="utf-8")
    empty = to_html(nbformat.v4.new_notebook())
    return page, empty


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright)")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_offline(browser, path):
    """The page with every non-local request recorded and refused."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    remote, errors = [], []

    def route(r):
        url = r.request.url
        if url.startswith(("file://", "about:", "data:")):
            r.continue_()
        else:
            remote.append(url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, remote, errors


def engine_gradients():
    x = cr.tensor(-2.0, dtype="float64", requires_grad=True)
    y = cr.tensor(5.0, dtype="float64", requires_grad=True)
    z = cr.tensor(-4.0, dtype="float64", requires_grad=True)
    ((x + y) * z).backward()
    return {"x": x.grad.item(), "y": y.grad.item(), "z": z.grad.item()}


@pytest.mark.browser
@pytest.mark.slow
def test_step_through_the_embedded_explanation(browser, converted):
    path, _ = converted
    page, _, errors = open_offline(browser, path)
    frames = page.locator(FRAME)
    assert frames.count() == 1
    # the frame loaded, so it removed the static fallback picture beside it
    assert page.locator(".chainrule-fallback").count() == 0
    handle = frames.first.element_handle()
    frame = handle.content_frame()
    frame.wait_for_selector("#next")

    def fits():
        """The frame is as tall as its page: no inner scroll bar, no empty band."""
        page.wait_for_timeout(50)  # the ResizeObserver runs after layout
        content = frame.evaluate("document.documentElement.getBoundingClientRect().height")
        scroll, client = frame.evaluate(
            "[document.documentElement.scrollHeight, document.documentElement.clientHeight]"
        )
        height = handle.bounding_box()["height"]
        return scroll <= client + 1 and abs(height - content) < 8

    assert fits()

    n_steps = len(json.loads(frame.text_content("#explain-data"))["steps"])
    assert frame.get_attribute("body", "data-step") == "0"
    assert frame.locator("#graph text.grad:not(.hidden)").count() == 0
    for k in range(1, n_steps):
        frame.click("#next")
        assert frame.get_attribute("body", "data-step") == str(k)
        assert fits(), f"step {k}"
    assert frame.locator("#next").is_disabled()
    want = engine_gradients()
    assert want == {"x": -4.0, "y": -4.0, "z": 3.0}
    for name, g in want.items():
        cell = frame.locator(f'#gradients tr[data-input="{name}"] td.grad')
        assert cell.is_visible() and json.loads(cell.get_attribute("data-grad")) == g
        box = frame.locator(f'#graph .node[data-node="{name}"] text.grad')
        assert "hidden" not in (box.get_attribute("class") or "")
        assert json.loads(box.get_attribute("data-grad")) == g
    # and backward again, to the start
    for k in range(n_steps - 2, -1, -1):
        frame.click("#prev")
        assert frame.get_attribute("body", "data-step") == str(k)
    assert frame.locator("#graph text.grad:not(.hidden)").count() == 0
    assert frame.locator("#prev").is_disabled()
    assert errors == []
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_no_request_leaves_the_page_and_ids_are_unique(browser, converted, tmp_path):
    path, empty = converted
    page, remote, errors = open_offline(browser, path)
    page.wait_for_timeout(300)
    # nbconvert's own template may ask for its MathJax/require.js; the outputs ask for
    # nothing: every refused request is one an empty notebook's page makes too
    template = {u for u in remote if u in empty}
    assert set(remote) == template, set(remote) - template
    ids = page.evaluate("[...document.querySelectorAll('[id]')].map(e => e.id)")
    assert len(ids) == len(set(ids))
    # the pictures and tables are there without a kernel
    # nbconvert embeds each SVG picture as a data: image; decode it and read it
    pictures = page.evaluate(
        "[...document.querySelectorAll('img[src^=\"data:image/svg+xml\"]')]"
        ".map(i => atob(i.src.split(',')[1]))"
    )
    assert len(pictures) >= 2 and all(p.startswith("<svg") for p in pictures)
    assert any('data-node="q"' in p and "f = −12" in p.encode("latin-1").decode() for p in pictures)
    assert page.locator(".chainrule-display[data-kind=tensor]").count() >= 1
    shot = tmp_path / "01_chain_rule.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    assert errors == []
    page.close()


@pytest.mark.browser
def test_stored_notebook_renders_too(browser, tmp_path):
    """The copy in docs/tutorials, as GitHub or the docs site get it."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    path = tmp_path / "stored.html"
    path.write_text(to_html(nb), encoding="utf-8")
    page, _, errors = open_offline(browser, path)
    frame = page.locator(FRAME).first.element_handle().content_frame()
    frame.wait_for_selector("#next")
    frame.press("body", "End")
    cell = frame.locator('#gradients tr[data-input="z"] td.grad')
    assert json.loads(cell.get_attribute("data-grad")) == 3.0
    assert np.isclose(json.loads(cell.get_attribute("data-grad")), engine_gradients()["z"])
    assert errors == []
    page.close()
