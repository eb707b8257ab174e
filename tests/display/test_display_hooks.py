"""What IPython itself shows for each chainrule object: its own formatter asks the object
(``_repr_mimebundle_``) and gets chainrule.display's bundle."""

import pytest

import chainrule as cr
from chainrule.display import mimebundle
from chainrule.explain import explain_expression

IPython = pytest.importorskip("IPython")


def shown(obj):
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(obj)
    return data


def same_but_ids(a, b):
    """Two bundles equal up to the fresh ids every display gets."""
    import re

    def strip(v):
        return re.sub(r"\b(cr|crg|crx)-[0-9a-f]{10}\b", "ID", v)

    return {k: strip(v) for k, v in a.items()} == {k: strip(v) for k, v in b.items()}


def test_tensor():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    data = shown(x)
    assert set(data) == {"text/plain", "text/html"}
    assert same_but_ids(data, mimebundle(x))


def test_explanation_module_history_report_and_sweep():
    from chainrule.diagnostics.report import Finding, Report
    from chainrule.sweep.runner import SweepResult
    from chainrule.train.history import History

    expl = explain_expression("x*y", "x=2,y=3")
    model = cr.nn.MLP([2, 3, 1])
    hist = History([{"epoch": 1, "train_loss": 0.5}])
    report = Report([Finding("healthy", "ok", "the run looks healthy")])
    sweep = SweepResult({"search": {}}, "/tmp/s", [], "val_loss", "min")
    for obj, kinds in (
        (expl, {"text/plain", "text/html", "image/svg+xml"}),
        (model, {"text/plain", "text/html"}),
        (hist, {"text/plain", "text/html"}),
        (report, {"text/plain", "text/html"}),
        (sweep, {"text/plain", "text/html"}),
    ):
        data = shown(obj)
        assert set(data) == kinds, type(obj)
        assert same_but_ids(data, mimebundle(obj))


def test_graph_picture():
    data = shown(cr.draw(cr.tensor(2.0, requires_grad=True) * 3))
    assert set(data) == {"text/plain", "image/svg+xml"}
    assert data["image/svg+xml"].startswith("<svg") and "f = 6" in data["image/svg+xml"]


def test_the_lower_layers_import_display_only_when_asked(tmp_path):
    """tensor/nn/train/explain bind the display late: importing them loads nothing of it
    beyond what ``import chainrule`` itself loads for ``cr.draw``."""
    import subprocess
    import sys

    code = (
        "import sys; "
        "import chainrule.tensor, chainrule.nn.module, chainrule.train.history; "
        "print(sorted(m for m in sys.modules if m.startswith('chainrule.display.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "chainrule.display.history" not in out.stdout
    assert "chainrule.display.diagnosis" not in out.stdout
