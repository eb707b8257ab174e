"""The page in a real browser (Playwright + Debian's Chromium), against the real server.

Needs the Python package ``playwright`` and /usr/bin/chromium (``apt-get install -y
chromium``; never ``playwright install``); skips cleanly when either is missing.
"""

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from headless_chromium import ARGS, CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def context(browser, server):
    ctx = browser.new_context(viewport={"width": 1500, "height": 950})
    ctx.requests = []
    ctx.on("request", lambda r: ctx.requests.append(r.url))
    yield ctx
    # no request ever left this server: no CDN, no fonts, no telemetry
    foreign = [
        u
        for u in ctx.requests
        if not u.startswith(("data:", "blob:")) and urlsplit(u).netloc != f"127.0.0.1:{server.port}"
    ]
    assert ctx.requests and not foreign, foreign
    ctx.close()


def js(page, expr):
    return page.evaluate(expr)


def wait_step(page, predicate, timeout=30000):
    page.wait_for_function(
        f"() => {{ const f = window.playground.frame; return f && ({predicate}); }}",
        timeout=timeout,
    )


def keep_heat_map(page):
    """Remember the output picture's pixels, in the page (640,000 bytes stay there)."""
    js(
        page,
        """() => { const c = document.getElementById('heat');
        window.keptHeat = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; }""",
    )


def heat_map_change(page):
    """Mean absolute difference (0..255) between the picture now and the kept one."""
    return js(
        page,
        """() => { const c = document.getElementById('heat');
        const now = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = 0; for (let i = 0; i < now.length; i++) s += Math.abs(now[i] - window.keptHeat[i]);
        return s / now.length; }""",
    )


def torch_weight_grad(frame, explanation, activation):
    """∂L/∂W and δ of the explained weight, by PyTorch from the frame's weights."""
    torch = pytest.importorskip("torch")
    target = explanation["target"]
    h = torch.tensor([target["x"]], dtype=torch.float64)
    Ws = []
    act = {"relu": torch.relu, "tanh": torch.tanh}[activation]
    pre = []
    for k, layer in enumerate(frame["weights"]):
        W = torch.tensor(layer["W"], dtype=torch.float64, requires_grad=True)
        b = torch.tensor(layer["b"], dtype=torch.float64)
        a = h @ W.T + b
        a.retain_grad()
        pre.append(a)
        Ws.append(W)
        h = act(a) if k < len(frame["weights"]) - 1 else a
    loss = torch.nn.functional.cross_entropy(h, torch.tensor([int(target["y"])]))
    loss.backward()
    k = explanation["layer"] - 1
    return (
        Ws[k].grad[explanation["to"], explanation["from"]].item(),
        pre[k].grad[0, explanation["to"]].item(),
        loss.item(),
    )


def test_a_lesson_in_the_browser(context, server, tmp_path):
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "&n=300&act=relu&init=he&features=x1,x2,x1*x2&speed=20")
    wait_step(page, "f.step === 0")
    assert "token" not in page.url  # dropped from the address bar: links never carry it

    # change data, network and hyperparameters with the controls
    # one control at a time: each change re-renders the controls from the server's setup,
    # and a click that lands during that re-render is lost (seen once under CI load)
    page.click(".tile[data-value='xor']")
    page.wait_for_function("() => window.playground.setup.state.data === 'xor'")
    page.click("#add-layer")
    page.wait_for_function("() => window.playground.setup.state.layers.length === 3")
    page.select_option("#lr", "0.1")
    page.wait_for_function(
        "() => { const p = window.playground; return p.setup && p.setup.state.lr === 0.1"
        " && p.frame && p.frame.run === p.setup.run; }"
    )
    state = js(page, "window.playground.setup.state")
    assert state["data"] == "xor" and state["layers"] == [4, 4, 4] and state["lr"] == 0.1
    assert state["act"] == "relu" and state["features"] == ["x1", "x2", "x1*x2"]
    assert "data=xor" in page.url and "layers=4,4,4" in page.url
    first = js(page, "window.playground.frame")
    page.wait_for_timeout(200)  # the frame is drawn on the next animation frame
    keep_heat_map(page)

    # play: the test loss falls and the boundary changes
    page.click("#play")
    wait_step(page, "f.n_epochs >= 2")
    page.click("#play")  # pause
    page.wait_for_function("window.playground.playing === false")
    page.wait_for_timeout(300)
    later = js(page, "window.playground.frame")
    assert later["losses"]["test_loss"] < 0.7 * first["losses"]["test_loss"]
    assert heat_map_change(page) > 10
    assert later["step"] > 0

    # pause holds; one step is one optimizer step
    page.wait_for_timeout(300)
    s = js(page, "window.playground.frame.step")
    assert s == later["step"]
    page.click("#step")
    wait_step(page, f"f.step === {s + 1}")
    page.wait_for_function(f"document.getElementById('stepcount').textContent === '{s + 1}'")

    # click a weight: the explanation's numbers are the engine's
    # (edges cross: dispatch the click on this very edge rather than at a point)
    page.locator(".edge-hit[data-layer='2'][data-to='1'][data-from='3']").dispatch_event("click")
    page.wait_for_function(
        "window.playground.explanation && window.playground.explanation.layer === 2"
    )
    x = js(page, "window.playground.explanation")
    frame = js(page, "window.playground.frame")
    assert x["step"] == frame["step"]
    grad, delta, loss = torch_weight_grad(frame, x, "relu")
    assert x["grad"] == pytest.approx(grad, rel=1e-4, abs=1e-7)
    assert x["delta"] == pytest.approx(delta, rel=1e-4, abs=1e-7)
    assert x["loss"] == pytest.approx(loss, rel=1e-5)
    assert (x["layer"], x["to"], x["from"]) == (2, 1, 3)
    assert x["weight"] == frame["weights"][1]["W"][1][3]
    shown = page.locator("#explain-rows .val").evaluate_all(
        "els => els.map(e => e.dataset.value).filter(v => v !== '').map(Number)"
    )
    assert x["grad"] in shown and x["delta"] in shown

    # export: chainrule train on the export reproduces the page's loss
    page.click("#export")
    page.wait_for_function("window.playground.exported")
    ex = js(page, "window.playground.exported")
    for kind in ("csv", "toml", "python"):
        (tmp_path / ex["names"][kind]).write_text(ex[kind])
    assert ex["epoch"] == frame["n_epochs"] >= 2
    page_epoch = frame["last_epoch"]  # what the page shows for the last completed epoch
    assert ex["expected"] == page_epoch
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "chainrule",
            "train",
            "--config",
            ex["names"]["toml"],
            "--out",
            "run",
            "--quiet",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_loss"] == page_epoch["test_loss"]
    assert metrics["train_loss"] == page_epoch["train_loss"]
    assert metrics["epochs"] == ex["epoch"] and metrics["steps"] == page_epoch["step"]

    # the shared URL gives the same state (and the same initial network: same seed)
    shared = js(page, "location.href")
    other = context.new_page()
    other.goto(shared)  # no token: the cookie of this browser is enough
    wait_step(other, "f.step === 0")
    assert js(other, "window.playground.setup.state") == js(page, "window.playground.setup.state")
    assert js(other, "window.playground.frame.weights") == first["weights"]
    other.close()
    assert not errors, errors
    page.close()


def test_controls_can_be_hidden_by_url(context, server):
    page = context.new_page()
    page.goto(server.url + "&hide=network,regularization,export&data=moons")
    wait_step(page, "f.step === 0")
    assert not page.is_visible("#act") and not page.is_visible("#l2")
    assert not page.is_visible("#export") and not page.is_visible("#add-layer")
    assert page.is_visible("#play") and page.is_visible(".tile[data-value='moons']")
    assert page.locator(".col-head button").count() == 0  # no +/− for widths either
    page.close()


def test_a_deep_sigmoid_net_warns_on_the_page(context, server):
    page = context.new_page()
    page.goto(server.url + "&act=sigmoid&layers=8,8,8,8,8,8&lr=0.1&speed=50")
    wait_step(page, "f.step === 0")
    page.click("#play")
    page.wait_for_selector(".finding[data-kind='vanishing-gradients']", timeout=30000)
    page.click("#play")
    text = page.text_content(".finding[data-kind='vanishing-gradients']")
    assert "δ" in text and "layer 1" in text
    page.close()


def test_uploading_a_csv_in_the_page(context, server, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,x\n3,oops,y\n")
    rows = ["p,q,r,kind"] + [
        f"{i % 7 - 3},{i % 5 - 2},{(i * 37) % 11 - 5},{'ab'[i % 2]}" for i in range(60)
    ]
    good = tmp_path / "mine.csv"
    good.write_text("\n".join(rows) + "\n")
    page = context.new_page()
    page.goto(server.url)
    wait_step(page, "f.step === 0")
    page.set_input_files("#upload", str(bad))
    page.wait_for_function("document.getElementById('upload-msg').textContent.includes('oops')")
    assert (
        page.text_content("#upload-msg") == "bad.csv: line 3, column 2 ('b'): not a number: 'oops'"
    )
    page.set_input_files("#upload", str(good))
    page.wait_for_function(
        "window.playground.setup && window.playground.setup.state.data === 'csv'"
    )
    assert js(page, "window.playground.setup.axis_names") == ["p", "q"]
    page.select_option("#cy", "2")  # plot r as x₂ instead of q
    page.wait_for_function("window.playground.setup.axis_names[1] === 'r'")
    assert js(page, "window.playground.setup.classes") == ["a", "b"]
    assert "upload=" in page.url
    page.close()
