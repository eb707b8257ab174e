"""Small SVG charts drawn here (no matplotlib): lines over epochs, points over an option.

Enough for learning curves, a per-layer gradient profile and a sweep's metric against
each hyperparameter: linear or log axes with "nice" ticks, a legend, hollow markers for
points that should read as secondary (pruned trials). Presentation attributes only, so
a chart looks the same inline, in an ``<img>`` and after an HTML sanitiser.
"""

from __future__ import annotations

import math

from chainrule.display.scope import esc

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
W, H = 360, 220
L, R, T, B = 52, 12, 26, 40  # margins: room for tick labels and the title


def _tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{v:.4g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round numbers (1, 2 or 5 × 10ᵏ apart) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        lo, hi = lo - 0.5 * (abs(lo) or 1), hi + 0.5 * (abs(hi) or 1)
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    count = math.ceil(hi / step - 1e-9) - math.floor(lo / step + 1e-9)
    ticks = [round(start + k * step, 12) for k in range(count + 1)]
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    every = max(1, (b - a) // 5)
    return [10.0**e for e in range(a, b + 1, every)]


class _Axis:
    def __init__(self, values, log, lo_px, hi_px):
        vals = [v for v in values if v is not None and math.isfinite(v) and (v > 0 or not log)]
        self.log = log and bool(vals)
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        if self.log:
            self.ticks = _log_ticks(lo, hi)
            self.lo, self.hi = math.log10(self.ticks[0]), math.log10(self.ticks[-1])
        else:
            self.ticks = nice_ticks(lo, hi)
            self.lo, self.hi = self.ticks[0], self.ticks[-1]
        if self.hi == self.lo:
            self.hi = self.lo + 1
        self.lo_px, self.hi_px = lo_px, hi_px

    def __call__(self, v):
        if self.log:
            v = math.log10(v)
        t = (v - self.lo) / (self.hi - self.lo)
        return self.lo_px + t * (self.hi_px - self.lo_px)

    def ok(self, v):
        return v is not None and math.isfinite(v) and (v > 0 or not self.log)


def _frame(title, xlabel, ylabel, xa, ya, xticks=None):
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
        f'height="{H}" font-family="system-ui, \'DejaVu Sans\', sans-serif" font-size="10" '
        f'role="img" aria-label="{esc(title)}">',
        f'<rect width="{W}" height="{H}" fill="#ffffff"/>',
        f'<text x="{W / 2}" y="15" text-anchor="middle" font-size="12" font-weight="600">'
        f"{esc(title)}</text>",
    ]
    for v in ya.ticks:
        y = ya(v)
        out.append(
            f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{L - 4}" y="{y + 3:.1f}" text-anchor="end" fill="#59636e">{_tick(v)}</text>'
        )
    for v, label in xticks or [(v, _tick(v)) for v in xa.ticks]:
        x = xa(v)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{T}" y2="{H - B}" stroke="#f0f1f3"/>'
            f'<text x="{x:.1f}" y="{H - B + 13}" text-anchor="middle" fill="#59636e">'
            f"{esc(label)}</text>"
        )
    out.append(
        f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" '
        'stroke="#8c959f"/>'
        f'<text x="{(L + W - R) / 2}" y="{H - 6}" text-anchor="middle">{esc(xlabel)}</text>'
        f'<text transform="translate(12,{(T + H - B) / 2}) rotate(-90)" text-anchor="middle">'
        f"{esc(ylabel)}</text>"
    )
    return out


def _legend(names):
    out, x = [], L + 6
    for k, name in enumerate(names):
        c = COLORS[k % len(COLORS)]
        out.append(
            f'<rect x="{x}" y="{T + 5}" width="10" height="3" fill="{c}"/>'
            f'<text x="{x + 13}" y="{T + 10}" fill="{c}">{esc(name)}</text>'
        )
        x += 18 + 6 * len(name)
    return out


def line_chart(x, series: dict, *, title="", xlabel="", ylabel="", logy=False) -> str:
    """One line per entry of ``series`` (name -> y values, None where missing) over ``x``."""
    ys = [v for vals in series.values() for v in vals]
    xa = _Axis(list(x), False, L, W - R)
    xticks = None
    if all(isinstance(v, int) for v in x):  # epochs, layers: no tick between two integers
        xticks = [(v, _tick(v)) for v in xa.ticks if v == int(v)]
    ya = _Axis(ys, logy, H - B, T)
    out = _frame(title, xlabel, ylabel, xa, ya, xticks)
    for k, (name, vals) in enumerate(series.items()):
        c = COLORS[k % len(COLORS)]
        pts = [(xa(a), ya(b)) for a, b in zip(x, vals) if ya.ok(b)]
        if len(pts) > 1:
            d = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            out.append(
                f'<polyline points="{d}" fill="none" stroke="{c}" stroke-width="1.8" '
                f'data-series="{esc(name)}"/>'
            )
        out.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.2" fill="{c}"/>' for px, py in pts)
    out.extend(_legend(list(series)))
    out.append("</svg>")
    return "\n".join(out)


def scatter_chart(xs, ys, *, hollow=None, title="", xlabel="", ylabel="", logx=False) -> str:
    """Points (x, y); non-numeric x become evenly spaced categories; ``hollow[i]`` draws
    point i as a ring."""
    hollow = hollow or [False] * len(xs)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    xticks = None
    if numeric:
        xa = _Axis(list(xs), logx, L + 8, W - R - 8)
        px = list(xs)
    else:
        cats = sorted({str(v) for v in xs})
        xa = _Axis([0, max(len(cats) - 1, 1)], False, L + 20, W - R - 20)
        xa.ticks = list(range(len(cats)))
        px = [cats.index(str(v)) for v in xs]
        xticks = list(enumerate(cats))
    ya = _Axis(list(ys), False, H - B, T)
    out = _frame(title, xlabel, ylabel, xa, ya, xticks)
    for a, b, h in zip(px, ys, hollow):
        if not (xa.ok(a) and ya.ok(b)):
            continue
        fill = "none" if h else COLORS[0]
        out.append(
            f'<circle cx="{xa(a):.1f}" cy="{ya(b):.1f}" r="3.5" fill="{fill}" '
            f'stroke="{COLORS[0]}" fill-opacity="0.8"/>'
        )
    out.append("</svg>")
    return "\n".join(out)
