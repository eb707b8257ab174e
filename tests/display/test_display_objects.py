"""The notebook displays of an explanation, a model, a training history, a diagnosis and a
sweep: their content, self-containment, and that several share a page safely."""

import html
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import chainrule as cr
from chainrule.display import html as display_html
from chainrule.display import mimebundle, summary
from chainrule.display.scope import wrap
from chainrule.explain import explain_expression


def ids(fragment):
    return re.findall(r'\bid="([^"]+)"', fragment)


def no_network(fragment):
    assert "<script src" not in fragment and "<link" not in fragment
    assert "@import" not in fragment
    urls = set(re.findall(r"https?://[^\s\"'<>)&]+", fragment))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls


# ------------------------------------------------------------------ explanation
def test_explanation_shows_the_step_through_page_in_its_own_frame():
    expl = explain_expression("(x+y)*z", "x=-2,y=5,z=-4")
    bundle = mimebundle(expl)
    assert bundle["text/plain"] == expl.text()
    frame = re.search(r'<iframe [^>]*srcdoc="([^"]*)"', bundle["text/html"])
    page = html.unescape(frame.group(1))
    assert page == expl.html(layout="builtin")  # the whole page, inline, unchanged
    assert 'id="next"' in page and 'id="explain-data"' in page
    no_network(bundle["text/html"])
    ET.fromstring(bundle["image/svg+xml"])
    # a viewer that strips frames (GitHub's) still shows the static picture
    stripped = re.sub(r"<iframe .*?</iframe>", "", bundle["text/html"], flags=re.S)
    fallback = re.search(r'<div class="chainrule-fallback">(<svg.*?</svg>)</div>', stripped, re.S)
    assert 'data-node="q1"' in fallback.group(1) and "f = −12" in fallback.group(1)


def test_two_explanations_on_one_page_do_not_collide():
    expl = explain_expression("x*y", "x=1,y=2")
    a, b = display_html(expl), display_html(expl)
    assert not set(ids(a)) & set(ids(b))
    # the page's own ids (#next, #graph…) live inside the frame, not in the notebook page
    outside = re.sub(r'srcdoc="[^"]*"', "", a)
    assert "next" not in ids(outside) and "graph" not in ids(outside)


# ------------------------------------------------------------------ module
def mlp():
    cr.manual_seed(0)
    return cr.nn.MLP([4, 5, 3], activation="tanh", dtype="float64")


def test_module_table_lists_layers_shapes_counts_and_gradient_norms():
    model = mlp()
    page = mimebundle(model)["text/html"]
    assert "MLP: 43 parameters" in page and "‖grad‖₂" not in page
    assert "(5, 4)" in page and "(3, 5)" in page and ">20<" in page and ">15<" in page
    assert "layers.1" in page and "Tanh" in page
    x = cr.tensor(np.random.default_rng(0).normal(size=(2, 4)))
    model(x).sum().backward()
    bundle = mimebundle(model)
    page = bundle["text/html"]
    assert "‖grad‖₂" in page
    for name, p in model.named_parameters():
        norm = np.linalg.norm(p.grad.numpy())
        assert cr.display.tensor.number(norm, 3) in page
        assert f"{name} {cr.display.tensor.number(norm, 3)}" in bundle["text/plain"]
    assert bundle["text/plain"].startswith(repr(model))


def test_summary_adds_output_shapes_and_records_no_graph():
    model = mlp()
    x = cr.tensor(np.zeros((7, 4)), requires_grad=True)
    s = summary(model, x)
    assert [r["out_shape"] for r in s.rows()] == [(7, 5), (7, 5), (7, 3)]
    assert "output shape" in s.html()
    assert x.grad is None and all(
        not h for _, m in model.named_modules() for h in [m._forward_hooks]
    )
    with pytest.raises(TypeError, match="summary: expected a chainrule Module"):
        summary(x)


# ------------------------------------------------------------------ history
def history():
    from chainrule.train.history import History

    h = History()
    for e, (tl, ta, vl) in enumerate([(2.0, 0.5, 2.2), (1.0, 0.75, 1.5), (0.5, 0.875, None)], 1):
        h.append({"epoch": e, "train_loss": tl, "train_accuracy": ta, "val_loss": vl, "lr": 0.1})
    return h


def test_history_shows_curves_and_the_table():
    bundle = mimebundle(history())
    page = bundle["text/html"]
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 2  # loss (train + val) and accuracy (train)
    for svg in svgs:
        ET.fromstring(svg)
    loss = ET.fromstring(svgs[0])
    lines = [e for e in loss.iter() if e.tag.endswith("polyline")]
    assert {e.get("data-series") for e in lines} == {"train", "val"}
    # the val curve stops where val_loss was not measured: 2 points, train has 3
    counts = {e.get("data-series"): len(e.get("points").split()) for e in lines}
    assert counts == {"train": 3, "val": 2}
    assert "87.50%" in page and "<td>—</td>" in page
    assert bundle["text/plain"].splitlines()[0].split() == [
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "lr",
    ]
    no_network(page)


def test_history_points_are_ordered_and_on_a_log_axis_for_loss():
    page = mimebundle(history())["text/html"]
    loss = ET.fromstring(re.findall(r"<svg.*?</svg>", page, re.S)[0])
    train = next(e for e in loss.iter() if e.get("data-series") == "train")
    pts = [tuple(map(float, p.split(","))) for p in train.get("points").split()]
    xs, ys = zip(*pts)
    assert xs[0] < xs[1] < xs[2]
    # log scale: 2 → 1 → 0.5 are equal steps down the picture (y grows downwards)
    assert ys[1] - ys[0] == pytest.approx(ys[2] - ys[1], abs=0.2)


# ------------------------------------------------------------------ diagnosis
def test_diagnosis_table_and_gradient_profile(tmp_path):
    from chainrule.diagnostics import GradientFlowMonitor, diagnose

    rng = np.random.default_rng(0)
    X = rng.normal(size=(128, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    cr.manual_seed(0)
    model = cr.nn.MLP([8] + [16] * 6 + [2], activation="sigmoid", init="xavier")
    cr.train.fit(
        model,
        cr.nn.CrossEntropyLoss(),
        cr.optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        epochs=2,
        callbacks=[GradientFlowMonitor(every=2)],
        run_dir=tmp_path,
    )
    report = diagnose(tmp_path)
    bundle = mimebundle(report)
    assert bundle["text/plain"] == str(report)
    page = bundle["text/html"]
    for f in report.findings:
        assert f'data-kind="{f.kind}"' in page and html.escape(f.message) in page
    assert "vanishing-gradients" in report
    profile = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(profile) == 1 and "gradient by layer" in profile[0]
    line = next(e for e in ET.fromstring(profile[0]).iter() if e.get("data-series") == "‖δ‖")
    ys = [float(p.split(",")[1]) for p in line.get("points").split()]
    assert ys[0] > ys[-1]  # δ grows from layer 1 to the top: lower in the picture at layer 1


# ------------------------------------------------------------------ sweep
def sweep_result():
    from chainrule.sweep.runner import SweepResult

    records = [
        {
            "index": 0,
            "status": "completed",
            "metric": 0.91,
            "params": {"lr": 0.01},
            "epochs": 3,
            "seconds": 1.0,
            "metrics": {"val_loss": 0.3},
        },
        {
            "index": 1,
            "status": "completed",
            "metric": 0.97,
            "params": {"lr": 0.1},
            "epochs": 3,
            "seconds": 1.5,
            "metrics": {"val_loss": 0.1},
        },
        {
            "index": 2,
            "status": "pruned",
            "metric": 0.40,
            "params": {"lr": 0.0001},
            "epochs": 1,
            "seconds": 0.2,
            "metrics": {},
        },
        {
            "index": 3,
            "status": "failed",
            "metric": None,
            "params": {"lr": 5.0},
            "seconds": 0.1,
            "error": "ValueError: loss is nan",
        },
    ]
    spec = {"search": {"lr": {"loguniform": [1e-4, 5.0]}}, "sweep": {}}
    return SweepResult(spec, "/tmp/s", records, "val_accuracy", "max")


def test_sweep_results_ranked_with_a_chart_per_option():
    bundle = mimebundle(sweep_result())
    page = bundle["text/html"]
    order = [int(i) for i in re.findall(r'data-trial="(\d+)"', page)]
    assert order == [1, 0, 2, 3]  # best first, pruned, then failed
    assert "ValueError: loss is nan" in page and "0.9700" in page
    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(charts) == 1 and "val_accuracy vs lr" in charts[0]
    circles = [e for e in ET.fromstring(charts[0]).iter() if e.tag.endswith("circle")]
    assert len(circles) == 3 and sum(c.get("fill") == "none" for c in circles) == 1  # pruned
    assert "best val_accuracy 0.9700 (trial 1)" in bundle["text/plain"]


# ------------------------------------------------------------------ scoping
def test_every_display_scopes_its_css_under_its_own_id():
    outputs = [
        mimebundle(cr.tensor([1.0, 2.0]))["text/html"],
        mimebundle(mlp())["text/html"],
        mimebundle(history())["text/html"],
        mimebundle(sweep_result())["text/html"],
    ]
    roots = []
    for out in outputs:
        root = re.match(r'<div class="chainrule-display" id="([^"]+)"', out).group(1)
        roots.append(root)
        css = re.search(r"<style>(.*?)</style>", out, re.S).group(1)
        selectors = [
            s.strip() for block in re.findall(r"([^{}]+)\{", css) for s in block.split(",")
        ]
        assert selectors and all(s.startswith(f"#{root}") for s in selectors), selectors
        no_network(out)
    assert len(set(roots)) == len(roots)
    assert wrap("<p>same</p>") != wrap("<p>same</p>")  # even identical content
