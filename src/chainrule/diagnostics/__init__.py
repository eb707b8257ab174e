"""chainrule.diagnostics: see why training fails — measured, reported and plotted.

- :class:`GradientFlowMonitor` (a training callback): per-layer weight and gradient
  norms, update/weight ratios, pre-activation statistics and histograms, saturation,
  dead ReLU units and unbroken symmetry, every N steps, into ``monitor.jsonl``.
- :func:`diagnose` (``chainrule diagnose RUN_DIR``): a :class:`Report` of
  :class:`Finding` s — vanishing/exploding gradients, saturation, dead units, symmetry,
  NaNs, learning rate too high/low, overfitting — or "healthy".
- :func:`plot_run` / :func:`write_html_report`: heat maps, histograms, loss curves.
- :func:`check_model_gradients` (``chainrule gradcheck``): every parameter against
  finite differences in float64.
- :func:`detect_anomaly`: stop at the first op that makes a NaN or inf, naming it and
  the line of code that called it.

Heavy pieces load on first use, so ``import chainrule`` stays light.
"""

from __future__ import annotations

import importlib

from chainrule.diagnostics.anomaly import AnomalyError, detect_anomaly

_LAZY = {
    "GradientFlowMonitor": "monitor",
    "diagnose": "checks",
    "Report": "report",
    "Finding": "report",
    "RunData": "run_data",
    "load_run": "run_data",
    "check_model_gradients": "model_gradcheck",
    "ModelGradcheckReport": "model_gradcheck",
    "plot_run": "plots",
    "write_html_report": "html_report",
    "find_layers": "layers",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chainrule.diagnostics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"chainrule.diagnostics.{module}"), name)
    globals()[name] = value
    return value


__all__ = ["AnomalyError", "detect_anomaly", *_LAZY]
