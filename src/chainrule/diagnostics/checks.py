"""``diagnose(run_dir) -> Report``: read a run and say what is wrong with its training.

Each check below reads the monitor records (per-layer statistics every N steps, see
:mod:`chainrule.diagnostics.monitor`) and the per-epoch metrics, and turns one failure
mode of backpropagation into a :class:`~chainrule.diagnostics.report.Finding` with its
evidence and a suggestion. Thresholds (module constants) are rules of thumb, chosen to
separate the textbook failures from healthy runs by orders of magnitude rather than to
be sharp.

One flat catalogue of checks (one function per failure mode, run in order by
``diagnose``), so it is kept whole past the ~500-line guide.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from chainrule.diagnostics.report import Finding, Report
from chainrule.diagnostics.run_data import RunData, from_records, is_finite, load_run

VANISHING_RATIO = 0.1  # error signal at layer 1 / at the output below this: vanishing,
VANISHING_ERROR = 1e-3  # ... below this: severe
EXPLODING_RATIO = 1e2  # ... above this: exploding (towards the input)
MONOTONE = 0.7  # and it must shrink (grow) across at least 70 % of the layer pairs
MILD_VANISHING_RATIO, MILD_MONOTONE = 0.3, 0.8  # a steady but mild decay: "info"
EXPLODING_GROWTH = 1e3  # gradient norm grew this much during training
ACTIVATION_GROWTH = 30.0  # pre-activation std grew this much from first to last hidden layer
SATURATION_WARN, SATURATION_INFO = 0.2, 0.05
DEAD_WARN, DEAD_INFO = 0.5, 0.1
UPDATE_RATIO_HIGH = 0.1  # ‖ΔW‖/‖W‖ per step; healthy runs stay around 1e-3..1e-2
PLATEAU = 0.01  # loss fell by less than 1 % over the run
UNDERFIT = 0.5  # classification: final training loss above half of chance level ln C
OVERFIT_RISE = 0.1  # validation loss 10 % above its best while training loss kept falling
OVERFIT_ACC_GAP = 0.1


def diagnose(run, metrics=None, config=None) -> Report:
    """Diagnose a run: a run folder, a :class:`GradientFlowMonitor` or its records.

    ``metrics`` (per-epoch dicts such as ``fit``'s history) and ``config`` are read from
    the folder, or may be passed along with in-memory records.
    """
    if isinstance(run, RunData):
        data = run
    elif hasattr(run, "records") and not isinstance(run, (str, bytes)):
        data = from_records(run.records, _rows(metrics), config)
    elif isinstance(run, (list, tuple)):
        data = from_records(run, _rows(metrics), config)
    else:
        data = load_run(run)
    findings = run_checks(data)
    if not any(f.severity in ("error", "warning") for f in findings):
        findings.append(_healthy(data, notes=bool(findings)))
    return Report(findings, summary=_summary(data), run_dir=data.run_dir, data=data)


def _rows(metrics):
    """Per-epoch dicts from a ``History`` (iterable of dicts), a list of dicts, or None."""
    return [] if metrics is None else [dict(r) for r in metrics]


# --- helpers ---------------------------------------------------------------------------
def _label(data, k):
    """'layer 2 (layers.2: 32→32, tanh)'."""
    info = data.layers[k]
    shape = info.get("shape") or [0, 0]
    act = info.get("activation", "identity")
    return f"layer {k + 1} ({info.get('name')}: {shape[1]}→{shape[0]}, {act})"


def _series(data, k, key):
    """The values of ``key`` for layer k over the sampled steps (None where unmeasured)."""
    return [s["layers"][k].get(key) for s in data.steps]


def _median(vals):
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    return float(np.median(vals)) if vals else None


def _hidden(data):
    """Indices of layers followed by an activation, except the output layer."""
    n = len(data.layers)
    return [k for k in range(n - 1) if data.layers[k].get("activation") != "identity"]


def _fmt(x):
    return "n/a" if x is None else f"{x:.2g}"


def _late(steps):
    """The second half of the sampled steps (the first half is warm-up)."""
    return steps[len(steps) // 2 :] if len(steps) > 1 else steps


def _uses(data, key, *values):
    """Whether the run's config sets ``key`` to one of ``values`` (unknown config: no)."""
    v = data.config.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and not values:
        return v != 0
    return v is not None and v in values


def _suggest(*options, otherwise=""):
    """Join the remedies the run does not already use.

    Each option is ``(text, already_used)``; a suggestion must never propose what the
    run already does, so used ones are dropped (``otherwise`` when none is left).
    """
    texts = [text for text, used in options if not used]
    if not texts:
        return otherwise
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]


# --- checks ----------------------------------------------------------------------------
def _bad_grad_layer(step):
    """Index of the first layer with a NaN/inf gradient in a step record, or None."""
    for k, lay in enumerate(step["layers"]):
        if lay.get("grad_norm") is None and not lay.get("grad_is_none"):
            return k
    return None


def check_non_finite(data):
    where = []
    event = next((e for e in data.events if e.get("kind") == "non-finite-loss"), None)
    if event is not None:
        epoch = event.get("epoch")
        at = f" (epoch {epoch + 1})" if isinstance(epoch, int) else ""
        where.append(f"the loss became {event.get('value')} at step {event['step']}{at}")
    else:
        step = next((s for s in data.steps if s.get("nonfinite_loss")), None)
        if step is not None:
            where.append(f"the loss was NaN/inf at sampled step {step['step']}")
        rows = [
            k
            for k, m in enumerate(data.metrics)
            if "train_loss" in m and not is_finite(m["train_loss"])
        ]
        if rows and step is None:
            where.append(f"the training loss was NaN/inf in epoch {rows[0] + 1}")
    bad = next((s for s in data.steps if _bad_grad_layer(s) is not None), None)
    if bad is not None:
        k = _bad_grad_layer(bad)
        where.append(f"{_label(data, k)} had a NaN/inf gradient at step {bad['step']}")
    if not where:
        return []
    return [
        Finding(
            "non-finite",
            "error",
            "training diverged: values became NaN or infinite",
            "; ".join(where),
            "lower the learning rate (3-10x), clip gradients (--clip-grad-norm 1), and rerun "
            "with --detect-anomaly to name the op that first made a NaN",
        )
    ]


def _layers_text(ks):
    """'layer 3' or 'layers 1, 2 and 5' (1-based)."""
    ks = [k + 1 for k in ks]
    if len(ks) == 1:
        return f"layer {ks[0]}"
    if ks == list(range(ks[0], ks[-1] + 1)) and len(ks) > 2:
        return f"layers {ks[0]}-{ks[-1]}"
    return "layers " + ", ".join(str(k) for k in ks[:-1]) + f" and {ks[-1]}"


def check_no_gradient(data):
    ks, counts = [], []
    for k in _hidden(data):
        g = [v for v in _series(data, k, "grad_norm") if v is not None]
        if g and all(v == 0.0 for v in g):
            ks.append(k)
            counts.append(len(g))
    if not ks:
        return []
    return [
        Finding(
            "no-gradient",
            "error",
            f"{_layers_text(ks)} received an exactly zero gradient at every sampled step: "
            "their weights never change",
            "; ".join(
                f"{_label(data, k)}: ‖∂L/∂W‖ = 0 in {n} sampled steps, ‖W‖ = "
                f"{_fmt(data.steps[-1]['layers'][k].get('weight_norm'))}"
                for k, n in zip(ks, counts)
            ),
            "all-zero weights are a critical point (the error signal cannot pass back "
            "through zero weights): initialize with small random values (--init he for "
            "ReLU, xavier for tanh/sigmoid)",
            [k + 1 for k in ks],
        )
    ]


def check_symmetry(data):
    last = data.steps[-1]
    ks = [
        k
        for k in _hidden(data)
        if (data.layers[k].get("shape") or [0])[0] >= 2 and last["layers"][k].get("identical_units")
    ]
    if not ks:
        return []
    units = ", ".join(
        f"{_label(data, k)}: {data.layers[k]['shape'][0]} identical units" for k in ks
    )
    at_start = all(data.steps[0]["layers"][k].get("identical_units") for k in ks)
    return [
        Finding(
            "symmetry",
            "error",
            f"every unit of {_layers_text(ks)} is identical to the others (equal rows of W "
            f"and b) after {last['step'] + 1} steps: symmetry was never broken, so each layer "
            "works like a single unit",
            units
            + f"; rows of [W|b] equal to tolerance at step {last['step']}"
            + (" and at the start" if at_start else ""),
            "identical units get identical gradients; break the symmetry with random "
            "initialization (--init he / xavier), not a constant",
            [k + 1 for k in ks],
        )
    ]


def _grad_medians(data, steps=None):
    steps = data.steps if steps is None else steps
    return [
        _median([s["layers"][k].get("grad_norm") for s in steps]) for k in range(len(data.layers))
    ]


def _signal_profile(data):
    """(key, per-layer median, median per-step ratio first/last) of the error signal.

    Prefers δ_k = ∂L/∂a_k (``delta_norm``), the backpropagated error; falls
    back to the weight gradients ‖∂L/∂W_k‖ for records without it.
    """
    n = len(data.layers)
    for key in ("delta_norm", "grad_norm"):
        ratios = []
        for s in data.steps:
            first, last = s["layers"][0].get(key), s["layers"][n - 1].get(key)
            if first is not None and last:
                ratios.append(first / last)
        if ratios:
            profile = [_median([s["layers"][k].get(key) for s in data.steps]) for k in range(n)]
            return key, profile, float(np.median(ratios))
    return None, None, None


def _monotone(profile, increasing=True):
    """Fraction of adjacent layers where the signal grows towards the output."""
    pairs = [(a, b) for a, b in itertools.pairwise(profile) if a is not None and b is not None]
    if not pairs:
        return 0.0
    good = sum((a < b) if increasing else (a > b) for a, b in pairs)
    return good / len(pairs)


def check_gradient_flow(data):
    """Vanishing/exploding: the error signal at layer 1 against the one at the output."""
    n = len(data.layers)
    if n < 3:
        return []
    key, profile, ratio = _signal_profile(data)
    if key is None or ratio == 0:
        return []  # zero gradients are reported by check_no_gradient
    grads = _grad_medians(data)
    what = "the error signal δ = ∂L/∂a" if key == "delta_norm" else "the gradient norm"
    evidence = (
        "median ‖δ_k‖ = ‖∂L/∂a_k‖ by layer: "
        if key == "delta_norm"
        else "median ‖∂L/∂W_k‖ by layer: "
    ) + ", ".join(f"{k + 1}: {_fmt(v)}" for k, v in enumerate(profile))
    if key == "delta_norm":
        evidence += "; ‖∂L/∂W_k‖: " + ", ".join(f"{k + 1}: {_fmt(v)}" for k, v in enumerate(grads))
    per_layer = ratio ** (1.0 / (n - 1))
    # ∂L/∂W_k = δ_k h_{k-1}ᵀ: a shrinking δ slows the first layers only when their
    # weight gradients are smaller too; say which of the two the numbers show
    w_ratio = grads[0] / grads[-1] if grads[0] and grads[-1] else None
    acts = {lay.get("activation") for lay in data.layers[:-1]}
    upd = [_median(_series(data, k, "update_ratio")) for k in (0, n - 1)]
    if upd[0] is not None and upd[1] is not None:
        evidence += f"; update/weight ratio per step: layer 1 {upd[0]:.1e}, layer {n} {upd[1]:.1e}"
    mild = ratio < MILD_VANISHING_RATIO and _monotone(profile) >= MILD_MONOTONE
    if (ratio < VANISHING_RATIO and _monotone(profile) >= MONOTONE) or mild:
        why = []
        if "sigmoid" in acts:
            why.append("σ' ≤ 1/4")
        if "tanh" in acts:
            why.append("tanh' ≤ 1 and ≈ 0 where saturated")
        why = f" ({', '.join(why)})" if why else ""
        if w_ratio is None:
            effect = ""
        elif w_ratio < 1:
            effect = (
                f"; layer 1's weight-gradient norm is {w_ratio:.1e} of layer {n}'s, so the "
                "first layers learn slowest"
            )
        else:
            effect = (
                f"; yet layer 1's weight-gradient norm is {w_ratio:.2g}x layer {n}'s "
                "(∂L/∂W = δ hᵀ: larger inputs h make up for the smaller δ), so the first "
                "layers still learn"
            )
        relu_he = _uses(data, "activation", "relu") and _uses(data, "init", "he")
        tanh_xavier = _uses(data, "activation", "tanh") and _uses(data, "init", "xavier")
        suggestion = _suggest(
            ("use ReLU with He initialization (--activation relu --init he)", relu_he),
            ("tanh with Xavier initialization", tanh_xavier or relu_he),
            ("fewer layers", False),
        )
        if relu_he and ratio >= VANISHING_RATIO:
            suggestion += (
                " — this run already uses ReLU with He initialization, where a mild decay "
                "is common early in training: train longer and diagnose again"
            )
        if "sigmoid" in acts:
            suggestion += "; σ' ≤ 1/4 shrinks δ at every layer however sigmoid is initialized"
        return [
            Finding(
                "vanishing-gradients",
                "error"
                if ratio < VANISHING_ERROR
                else ("warning" if ratio < VANISHING_RATIO else "info"),
                f"{'(mild) ' if ratio >= VANISHING_RATIO else ''}"
                f"{what} at layer 1 is {ratio:.1e} of layer {n}'s — it "
                f"shrinks ×{per_layer:.2f} per layer on its way back{why}{effect}",
                evidence,
                suggestion,
                [1, n],
            )
        ]
    if ratio > EXPLODING_RATIO and _monotone(profile, increasing=False) >= MONOTONE:
        return [
            Finding(
                "exploding-gradients",
                "warning",
                f"{what} at layer 1 is {ratio:.1e} times layer {n}'s — "
                f"it grows ×{per_layer:.2f} per layer on its way back"
                + (
                    f"; layer 1's weight-gradient norm is {w_ratio:.2g}x layer {n}'s"
                    if w_ratio
                    else ""
                ),
                evidence,
                _suggest(
                    (
                        "scale the initial weights down (He/Xavier)",
                        _uses(data, "init", "he", "xavier"),
                    ),
                    ("lower the learning rate", False),
                    ("clip gradients (--clip-grad-norm 1)", _uses(data, "clip_grad_norm")),
                ),
                [1, n],
            )
        ]
    return []


def check_gradient_growth(data):
    """Gradient norms that grow by orders of magnitude during training."""
    if len(data.steps) < 4:
        return []
    q = max(1, len(data.steps) // 4)
    total = [
        math.sqrt(sum((lay.get("grad_norm") or 0.0) ** 2 for lay in s["layers"]))
        for s in data.steps
    ]
    early, late = _median(total[:q]), _median(total[-q:])
    if not early or not late or late / early < EXPLODING_GROWTH:
        return []
    return [
        Finding(
            "exploding-gradients",
            "warning",
            f"the total gradient norm grew {late / early:.0e}-fold during training",
            f"median ‖∇L‖ over the first quarter of sampled steps {early:.2g}, last quarter "
            f"{late:.2g}",
            _suggest(
                ("lower the learning rate", False),
                ("clip gradients (--clip-grad-norm 1)", _uses(data, "clip_grad_norm")),
            ),
        )
    ]


def check_activation_growth(data):
    """Pre-activations whose spread grows layer after layer (init too large)."""
    hidden = _hidden(data)
    if len(hidden) < 2:
        return []
    start = data.steps[0]  # the initialization, before updates could blow anything up
    stds = [start["layers"][k].get("preact_std") for k in hidden]
    first, last = stds[0], stds[-1]
    if not first or not last or last / first < ACTIVATION_GROWTH:
        return []
    return [
        Finding(
            "exploding-activations",
            "warning",
            f"pre-activations grow layer after layer at step {start['step']}: their spread is "
            f"{last / first:.0f}x larger in layer {hidden[-1] + 1} than in layer "
            f"{hidden[0] + 1} — the initial weights are too large",
            f"std of a = Wh + b at step {start['step']}, by layer: "
            + ", ".join(f"{k + 1}: {_fmt(v)}" for k, v in zip(hidden, stds)),
            "use He (ReLU) or Xavier (tanh/sigmoid) initialization, whose variance 2/fan_in "
            "or 1/fan_avg keeps the spread constant across layers",
            [k + 1 for k in hidden],
        )
    ]


def check_saturation(data):
    late = _late(data.steps)
    rows = []
    for k in _hidden(data):
        act = data.layers[k].get("activation")
        if act not in ("sigmoid", "tanh"):
            continue
        frac = _median([s["layers"][k].get("saturated") for s in late])
        if frac is not None and frac >= SATURATION_INFO:
            rows.append((k, act, frac))
    if not rows:
        return []
    ks = [k for k, _, _ in rows]
    worst = max(f for _, _, f in rows)
    acts = sorted({a for _, a, _ in rows})
    bound = " / ".join(
        {"sigmoid": "0 or 1 (σ' < 0.01)", "tanh": "±1 (tanh' < 0.02)"}[a] for a in acts
    )
    return [
        Finding(
            "saturation",
            "warning" if worst >= SATURATION_WARN else "info",
            f"{_layers_text(ks)} are saturated: up to {worst:.0%} of their outputs sit within "
            f"1% of {bound}, where almost no gradient passes"
            if len(ks) > 1
            else f"{_label(data, ks[0])} is saturated: {worst:.0%} of its outputs sit within 1% "
            f"of {bound}, where almost no gradient passes",
            f"median saturated fraction over the last {len(late)} sampled steps by layer: "
            + ", ".join(f"{k + 1}: {f:.2f}" for k, _, f in rows)
            + "; pre-activation std: "
            + ", ".join(
                f"{k + 1}: {_fmt(_median([s['layers'][k].get('preact_std') for s in late]))}"
                for k in ks
            ),
            "keep pre-activations in the linear region: "
            + _suggest(
                ("smaller initial weights (--init xavier)", _uses(data, "init", "xavier")),
                ("standardized inputs", _uses(data, "standardize", True)),
                ("a lower learning rate", False),
                ("ReLU with He initialization", False),
            ),
            [k + 1 for k in ks],
        )
    ]


def check_dead_units(data):
    rows = []
    for k in _hidden(data):
        if data.layers[k].get("activation") != "relu":
            continue
        ep = [e["layers"][k].get("dead") for e in data.epochs]
        ep = [v for v in ep if v is not None]
        frac = ep[-1] if ep else data.steps[-1]["layers"][k].get("dead")
        if frac is not None and frac >= DEAD_INFO:
            rows.append((k, frac))
    if not rows:
        return []
    window = "over the last epoch's sampled batches" if data.epochs else "on the last sampled batch"
    worst = max(f for _, f in rows)
    ks = [k for k, _ in rows]
    return [
        Finding(
            "dead-units",
            "warning" if worst >= DEAD_WARN else "info",
            f"dead ReLU units in {_layers_text(ks)}: up to {worst:.0%} of a layer's units "
            "output 0 for every example, so they pass no gradient and cannot recover",
            f"dead fraction {window} by layer: "
            + ", ".join(f"{k + 1}: {f:.2f} of {data.layers[k]['shape'][0]}" for k, f in rows),
            _suggest(
                ("lower the learning rate", False),
                ("use He initialization with zero biases", _uses(data, "init", "he")),
                ("use leaky_relu", False),
            ),
            [k + 1 for k in ks],
        )
    ]


def _loss_series(data):
    vals = data.losses
    return [v for v in vals if v is not None and math.isfinite(v)], len(data.metrics) >= 2


def _peak_update(data):
    """(step, ratio): the sampled step whose median-over-layers ‖ΔW‖/‖W‖ is largest."""
    best = (None, None)
    for s in data.steps:
        r = _median([lay.get("update_ratio") for lay in s["layers"]])
        if r is not None and (best[1] is None or r > best[1]):
            best = (s["step"], r)
    return best


def check_learning_rate(data):
    out = []
    losses, per_epoch = _loss_series(data)
    unit = "epoch" if per_epoch else "sampled step"
    step, peak = _peak_update(data)
    upd_text = f"; largest update/weight ratio {peak:.1e} (step {step})" if peak is not None else ""
    loss_text = f"; loss by {unit}: {_series_text(losses)}" if len(losses) >= 2 else ""
    if peak is not None and peak > UPDATE_RATIO_HIGH:
        return [
            Finding(
                "lr-too-high",
                "warning",
                f"one optimizer step changed the weights by {peak:.0%} of their size at step "
                f"{step} (healthy: about 0.1-1%): the learning rate is too high",
                f"median ‖ΔW_k‖/‖W_k‖ over the layers at step {step}: {peak:.2g}{loss_text}",
                "lower the learning rate 3-10x"
                + _lr_hint(data, 0.1)
                + ("" if _uses(data, "warmup") else " or warm it up (--warmup 1)"),
            )
        ]
    if len(losses) >= 3:
        first, last, best = losses[0], losses[-1], min(losses)
        diffs = np.diff(losses)
        # a rise counts when it undoes more than 2 % of the loss it started from and 1 %
        # of the initial loss (wiggles of a loss that is already ≈ 0 are not oscillation)
        prev = np.abs(np.asarray(losses[:-1]))
        ups = int(np.count_nonzero((diffs > 0.02 * prev) & (diffs > 0.01 * abs(first))))
        if last > 1.1 * first:
            out.append(
                Finding(
                    "lr-too-high",
                    "warning",
                    f"the training loss went up: from {first:.4g} to {last:.4g} over "
                    f"{len(losses)} {unit}s",
                    f"loss by {unit}: {_series_text(losses)}{upd_text}",
                    "lower the learning rate 3-10x" + _lr_hint(data, 0.1),
                )
            )
        elif ups >= max(2, (len(diffs) + 2) // 3) and last > best + 0.1 * (first - best):
            out.append(
                Finding(
                    "lr-too-high",
                    "warning",
                    f"the training loss oscillates: it rose in {ups} of {len(diffs)} "
                    f"{unit}s and ends {last / best - 1:.0%} above its best",
                    f"loss by {unit}: {_series_text(losses)}{upd_text}",
                    "lower the learning rate 3-10x"
                    + _lr_hint(data, 0.1)
                    + ", or let a schedule decay it (--schedule cosine)",
                )
            )
    return out


def check_plateau(data, flow_problems):
    losses, per_epoch = _loss_series(data)
    unit = "epoch" if per_epoch else "sampled step"
    if len(losses) < 3 or losses[0] == 0:
        return []
    drop = (losses[0] - min(losses)) / abs(losses[0])
    if drop >= PLATEAU:
        return []
    ratios = [
        lay.get("update_ratio")
        for s in data.steps
        for lay in s["layers"]
        if lay.get("update_ratio") is not None
    ]
    upd = _median(ratios)
    evidence = f"loss by {unit}: {_series_text(losses)}"
    if upd is not None:
        evidence += f"; median update/weight ratio per step {upd:.1e}"
    if flow_problems:
        return [
            Finding(
                "plateau",
                "info",
                f"the loss barely moved ({drop:.2%} below its start) — explained by the "
                "gradient-flow problems above",
                evidence,
                "fix those first",
            )
        ]
    return [
        Finding(
            "lr-too-low",
            "warning",
            f"the loss barely moved: it fell only {drop:.2%} over {len(losses)} {unit}s",
            evidence,
            "raise the learning rate 3-10x" + _lr_hint(data, 5.0) + " (healthy updates are "
            "about 1e-3 of the weights per step)",
        )
    ]


def check_overfitting(data):
    rows = [
        m for m in data.metrics if is_finite(m.get("val_loss")) and is_finite(m.get("train_loss"))
    ]
    if len(rows) < 3:
        return []
    val = [float(m["val_loss"]) for m in rows]
    train = [float(m["train_loss"]) for m in rows]
    best = int(np.argmin(val))
    out = []
    # the training loss must have held its ground past the validation optimum (within 2 %
    # of its starting value); when both went up together it is a learning-rate problem
    held = train[-1] <= min(train[: best + 1]) + 0.02 * abs(train[0])
    if val[-1] > val[best] * (1 + OVERFIT_RISE) and held:
        out.append(
            Finding(
                "overfitting",
                "warning",
                f"the validation loss was lowest at epoch {best + 1} "
                f"({val[best]:.4g}) and rose to {val[-1]:.4g} while the training loss kept "
                f"falling to {train[-1]:.4g}",
                f"validation loss by epoch: {_series_text(val)}",
                _suggest(
                    ("stop early (--early-stopping 5)", _uses(data, "early_stopping")),
                    (
                        "add weight decay/L2 (--weight-decay 1e-4)",
                        _uses(data, "weight_decay") or _uses(data, "l2"),
                    ),
                    (_more_decay(data), not (_uses(data, "weight_decay") or _uses(data, "l2"))),
                    ("add dropout (--dropout 0.2)", _uses(data, "dropout")),
                    ("more dropout", not _uses(data, "dropout")),
                    ("get more data", False),
                ),
            )
        )
    tr_acc, va_acc = rows[-1].get("train_accuracy"), rows[-1].get("val_accuracy")
    if is_finite(tr_acc) and is_finite(va_acc) and tr_acc - va_acc > OVERFIT_ACC_GAP and not out:
        out.append(
            Finding(
                "overfitting",
                "info",
                f"train/validation gap: accuracy {tr_acc:.1%} on training data but "
                f"{va_acc:.1%} on validation data",
                f"last epoch: train_loss {train[-1]:.4g}, val_loss {val[-1]:.4g}",
                "regularize (weight decay, dropout) or stop earlier",
            )
        )
    return out


def _more_decay(data):
    """'stronger weight decay (this run: 0.0005; try 0.005)'."""
    for key, flag in (("weight_decay", "--weight-decay"), ("l2", "--l2")):
        v = data.config.get(key)
        if isinstance(v, (int, float)) and v > 0:
            return (
                f"stronger {key.replace('_', ' ')} (this run: {flag} {v:g}; try {flag} {v * 10:g})"
            )
    return "stronger weight decay"


def check_underfit(data, explained):
    """Classification that has learned little: the final training loss is still close to
    chance level ln C (the cross-entropy of a uniform guess over C classes)."""
    if not data.metrics or not data.layers:
        return []
    last = data.metrics[-1]
    loss = last.get("train_loss")
    if not is_finite(loss) or last.get("train_accuracy") is None:
        return []  # regression or no per-epoch metrics: no chance level to compare with
    classes = data.layers[-1]["shape"][0]
    if classes < 2:
        return []
    chance = math.log(classes)
    if loss <= UNDERFIT * chance:
        return []
    acc = last.get("val_accuracy", last.get("train_accuracy"))
    which = "validation" if "val_accuracy" in last else "training"
    losses, _ = _loss_series(data)
    evidence = f"loss by epoch: {_series_text(losses)}; chance level ln {classes} = {chance:.3g}"
    if is_finite(acc):
        evidence += f"; {which} accuracy {acc:.1%} (chance {1 / classes:.0%})"
    message = (
        f"the model has learned little: its training loss ended at {loss:.3g}, "
        f"{loss / chance:.0%} of chance level (ln {classes} = {chance:.3g})"
    )
    if explained:
        return [
            Finding(
                "underfit",
                "info",
                message + " — explained by the problems above",
                evidence,
                "fix those first",
            )
        ]
    still_falling = len(losses) >= 2 and losses[-1] < losses[-2] * (1 - PLATEAU)
    epochs = data.config.get("epochs")
    more = (
        f" (this run: --epochs {epochs}; try --epochs {epochs * 5})"
        if isinstance(epochs, int)
        else ""
    )
    return [
        Finding(
            "underfit",
            "warning",
            message,
            evidence,
            _suggest(
                (f"train longer{more}: the loss is still falling", not still_falling),
                ("raise the learning rate" + _lr_hint(data, 3.0), False),
                ("a wider or shallower network", False),
            ),
        )
    ]


def _series_text(vals, n=8):
    if len(vals) <= n:
        return ", ".join(f"{v:.4g}" for v in vals)
    head = ", ".join(f"{v:.4g}" for v in vals[: n // 2])
    tail = ", ".join(f"{v:.4g}" for v in vals[-(n // 2) :])
    return f"{head}, …, {tail}"


def run_checks(data):
    """Every check, in order; the plateau check is told whether a flow problem was found."""
    found = []
    for check in (
        check_non_finite,
        check_no_gradient,
        check_symmetry,
        check_gradient_flow,
        check_gradient_growth,
        check_activation_growth,
        check_saturation,
        check_dead_units,
    ):
        found.extend(check(data))
    found.extend(check_learning_rate(data))
    flow = any(f.severity in ("error", "warning") for f in found)
    found.extend(check_plateau(data, flow))
    if not any(f.kind in ("plateau", "lr-too-low") for f in found):
        found.extend(check_underfit(data, any(f.severity in ("error", "warning") for f in found)))
    found.extend(check_overfitting(data))
    return found


def _healthy(data, notes=False):
    """The "ok" finding: no warning or error, and (check_underfit) the model has learned."""
    key, _, ratio = _signal_profile(data)
    parts = []
    if ratio:
        what = "‖δ‖" if key == "delta_norm" else "‖∂L/∂W‖"
        parts.append(f"{what} layer 1 / layer {len(data.layers)} = {ratio:.2g}")
    losses, _ = _loss_series(data)
    if len(losses) >= 2:
        parts.append(f"loss {losses[0]:.3g} → {losses[-1]:.3g}")
    if data.metrics and data.metrics[-1].get("train_accuracy") is not None:
        chance = math.log(max(2, data.layers[-1]["shape"][0]))
        loss = data.metrics[-1].get("train_loss")
        if is_finite(loss):
            parts.append(f"final training loss {loss / chance:.0%} of chance level")
    sat = [
        _median([s["layers"][k].get("saturated") for s in _late(data.steps)]) for k in _hidden(data)
    ]
    sat = [v for v in sat if v is not None]
    if sat:
        parts.append(f"saturation ≤ {max(sat):.0%}")
    dead = [data.steps[-1]["layers"][k].get("dead") for k in _hidden(data)]
    dead = [v for v in dead if v is not None]
    if dead:
        parts.append(f"dead ReLU units ≤ {max(dead):.0%}")
    return Finding(
        "healthy",
        "ok",
        "the run looks healthy: gradients reach every layer, units are diverse, and the loss "
        "goes down" + ("; the notes above are worth a look, none needs action" if notes else ""),
        "; ".join(parts),
        "",
    )


def _summary(data):
    n = len(data.layers)
    acts = sorted({lay.get("activation") for lay in data.layers[:-1]} - {"identity"})
    sizes = [data.layers[0]["shape"][1]] + [lay["shape"][0] for lay in data.layers]
    text = (
        f"{n} Linear layers ({'-'.join(str(s) for s in sizes)}, {'/'.join(acts) or 'linear'}); "
        f"{len(data.steps)} sampled steps (every {data.meta.get('every')}), last step "
        f"{data.steps[-1]['step']}"
    )
    if data.metrics:
        text += f", {len(data.metrics)} epochs of metrics"
    cfg = data.config
    if cfg:
        keys = ("optimizer", "lr", "batch_size", "init", "schedule", "weight_decay")
        text += "\nconfig: " + ", ".join(f"{k} {cfg[k]}" for k in keys if cfg.get(k) is not None)
    return text


def _lr_hint(data, factor):
    """' (this run: --lr 3, try 0.3)' when the run's config.toml is known."""
    lr = data.config.get("lr")
    if not isinstance(lr, (int, float)) or lr <= 0:
        return ""
    return f" (this run: --lr {lr:g}; try --lr {lr * factor:.2g})"


__all__ = ["diagnose"]
