"""Search spaces: which ``chainrule train`` options a sweep varies, and how.

A space maps option names (any field of :class:`~chainrule.experiment.config.TrainConfig`) to a
distribution. In TOML (the ``[search]`` table of a sweep spec)::

    lr         = {loguniform = [1e-3, 0.3]}       # log-uniform float on [lo, hi]
    momentum   = {uniform = [0.0, 0.95]}          # uniform float on [lo, hi]
    epochs     = {int = [5, 30]}                  # integer, uniform on lo..hi (inclusive)
    batch_size = {loguniform_int = [16, 256]}     # integer, log-uniform on lo..hi
    activation = ["relu", "tanh"]                 # a choice (same as {choice = [...]})
    layers     = {n_layers = [1, 3], units = {loguniform_int = [32, 512]}}

``layers`` also takes a *structure*: ``n_layers`` (a fixed count, an inclusive range
``[lo, hi]`` or ``{choice = [...]}``) and ``units`` (a fixed width or an integer
distribution drawn once per layer; ``same_units = true`` draws one width for all layers).
A choice of explicit lists works too: ``layers = [[64], [256, 128]]``.

Grid search needs finite sets: choices and integer ranges are enumerated; float ranges
take ``num = N`` points (evenly spaced, or geometrically for ``loguniform``):
``lr = {loguniform = [1e-3, 1e-1], num = 3}`` → 0.001, 0.01, 0.1.

A *point* is one draw: a flat dict of leaf names to values (``"layers.n_layers"``,
``"layers.units[0]"`` …); :meth:`SearchSpace.config` turns it into train options.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

KINDS = ("choice", "uniform", "loguniform", "int", "loguniform_int")
# options the sweep itself owns in every trial: searching them makes no sense
RESERVED = ("out", "quiet", "plots", "checkpoint_every", "monitor", "detect_anomaly")


def spec_error(path: str, message: str) -> ValueError:
    return ValueError(f"sweep spec: {path}: {message}")


# --- leaf distributions ------------------------------------------------------------------
class Distribution:
    """One scalar hyperparameter: ``sample(rng)``, ``grid()`` and an Optuna twin."""

    kind = ""

    def sample(self, rng: np.random.Generator):
        raise NotImplementedError

    def grid(self, path: str) -> list:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError

    @property
    def log(self) -> bool:
        return self.kind.startswith("log")


class Choice(Distribution):
    """One of ``values`` with equal probability (values may be lists, e.g. layer widths)."""

    kind = "choice"

    def __init__(self, values):
        self.values = list(values)
        if not self.values:
            raise ValueError("choice needs at least one value")

    def sample(self, rng):
        return self.values[int(rng.integers(len(self.values)))]

    def grid(self, path):
        return list(self.values)

    def to_dict(self):
        return {"choice": list(self.values)}

    def index(self, value) -> int:
        return self.values.index(value)

    def __repr__(self):
        return f"choice({self.values!r})"


class Uniform(Distribution):
    """A float on ``[low, high]``: uniform, or uniform in ``log x`` (``log=True``, both
    bounds > 0); ``num`` points for grid search."""

    def __init__(self, low: float, high: float, log: bool = False, num: int | None = None):
        self.low, self.high, self.num = float(low), float(high), num
        self.kind = "loguniform" if log else "uniform"

    def sample(self, rng):
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def grid(self, path):
        if self.num is None:
            raise spec_error(path, "grid search needs a finite set: add num = N points")
        if self.num == 1:
            return [self.low]
        space = np.geomspace if self.log else np.linspace
        return [float(v) for v in space(self.low, self.high, self.num)]

    def to_dict(self):
        d = {self.kind: [self.low, self.high]}
        return d if self.num is None else {**d, "num": self.num}

    def __repr__(self):
        return f"{self.kind}({self.low!r}, {self.high!r})"


class IntRange(Distribution):
    """An integer in ``low..high`` (both included): uniform, or log-uniform (``log=True``:
    drawn as ``round(exp(u))`` with ``u`` uniform on ``[log(low-0.5), log(high+0.5)]``, so
    every integer keeps a share proportional to its log-width)."""

    def __init__(self, low: int, high: int, log: bool = False, num: int | None = None):
        self.low, self.high, self.num = int(low), int(high), num
        self.kind = "loguniform_int" if log else "int"

    def sample(self, rng):
        if self.log:
            u = rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5))
            return int(min(self.high, max(self.low, round(math.exp(u)))))
        return int(rng.integers(self.low, self.high + 1))

    def grid(self, path):
        if self.num is None:
            return list(range(self.low, self.high + 1))
        space = np.geomspace if self.log else np.linspace
        return sorted({round(v) for v in space(self.low, self.high, self.num)})

    def to_dict(self):
        d = {self.kind: [self.low, self.high]}
        return d if self.num is None else {**d, "num": self.num}

    def __repr__(self):
        return f"{self.kind}({self.low}, {self.high})"


def choice(*values):
    """``choice("relu", "tanh")`` or ``choice(["relu", "tanh"])``."""
    if len(values) == 1 and isinstance(values[0], (list, tuple)):
        values = values[0]
    return Choice(values)


def uniform(low, high, num=None):
    return Uniform(low, high, num=num)


def loguniform(low, high, num=None):
    return Uniform(low, high, log=True, num=num)


def randint(low, high, num=None):
    """An integer in ``low..high``, both included (unlike NumPy's ``integers``)."""
    return IntRange(low, high, num=num)


def loguniform_int(low, high, num=None):
    return IntRange(low, high, log=True, num=num)


# --- network structure ---------------------------------------------------------------------
class Layers:
    """Hidden-layer structure: a count ``n_layers`` and a width distribution ``units``.

    Each of the ``n`` layers draws its own width from ``units`` unless ``same_units``; the
    leaves are ``NAME.n_layers`` and ``NAME.units[i]`` (or ``NAME.units``), so Optuna sees
    the widths of deeper layers as conditional parameters.
    """

    def __init__(self, n_layers, units, same_units: bool = False):
        self.n_layers = n_layers if isinstance(n_layers, Distribution) else Choice([n_layers])
        self.units = units if isinstance(units, Distribution) else Choice([units])
        self.same_units = bool(same_units)

    def leaves(self, name: str, n: int) -> dict:
        """``{leaf name: distribution}`` for a network of ``n`` hidden layers."""
        out = {f"{name}.n_layers": self.n_layers}
        if self.same_units:
            if n > 0:
                out[f"{name}.units"] = self.units
        else:
            out.update({f"{name}.units[{i}]": self.units for i in range(n)})
        return out

    def value(self, name: str, point: dict) -> list:
        n = point[f"{name}.n_layers"]
        if self.same_units:
            return [point[f"{name}.units"]] * n if n else []
        return [point[f"{name}.units[{i}]"] for i in range(n)]

    def to_dict(self):
        d = {"n_layers": self.n_layers.to_dict(), "units": self.units.to_dict()}
        return {**d, "same_units": True} if self.same_units else d

    def __repr__(self):
        return f"layers(n_layers={self.n_layers!r}, units={self.units!r})"


def layers(n_layers, units, same_units: bool = False) -> Layers:
    """``layers(n_layers=(1, 3), units=loguniform_int(32, 512))``: a tuple is an inclusive
    integer range, a list a choice."""
    if isinstance(n_layers, tuple):
        n_layers = IntRange(*n_layers)
    elif isinstance(n_layers, list):
        n_layers = Choice(n_layers)
    if isinstance(units, tuple):
        units = IntRange(*units)
    elif isinstance(units, list):
        units = Choice(units)
    return Layers(n_layers, units, same_units)


# --- the space ------------------------------------------------------------------------------
class SearchSpace:
    """An ordered ``{option: Distribution | Layers}``; see the module docstring."""

    def __init__(self, params: dict):
        self.params = dict(params)

    def __len__(self):
        return len(self.params)

    def __iter__(self):
        return iter(self.params)

    def sample(self, rng: np.random.Generator) -> dict:
        """One random point (each leaf drawn independently, in declaration order)."""
        point = {}
        for name, dist in self.params.items():
            if isinstance(dist, Layers):
                n = dist.n_layers.sample(rng)
                point[f"{name}.n_layers"] = n
                for leaf, d in dist.leaves(name, n).items():
                    if leaf not in point:
                        point[leaf] = d.sample(rng)
            else:
                point[name] = dist.sample(rng)
        return point

    def grid(self) -> list[dict]:
        """Every point of the Cartesian product (structures expanded layer by layer)."""
        axes = []
        for name, dist in self.params.items():
            if isinstance(dist, Layers):
                options = []
                for n in dist.n_layers.grid(f"search.{name}.n_layers"):
                    leaves = [k for k in dist.leaves(name, n) if not k.endswith(".n_layers")]
                    widths = dist.units.grid(f"search.{name}.units")
                    for combo in itertools.product(widths, repeat=len(leaves)):
                        options.append({f"{name}.n_layers": n, **dict(zip(leaves, combo))})
                axes.append(options)
            else:
                axes.append([{name: v} for v in dist.grid(f"search.{name}")])
        points = []
        for combo in itertools.product(*axes):
            point = {}
            for part in combo:
                point.update(part)
            points.append(point)
        return points

    def config(self, point: dict) -> dict:
        """The train options of ``point`` (structures become lists of widths)."""
        out = {}
        for name, dist in self.params.items():
            out[name] = dist.value(name, point) if isinstance(dist, Layers) else point[name]
        return out

    def leaves(self, point: dict) -> dict:
        """``{leaf name: Distribution}`` for the leaves ``point`` uses."""
        out = {}
        for name, dist in self.params.items():
            if isinstance(dist, Layers):
                out.update(dist.leaves(name, point[f"{name}.n_layers"]))
            else:
                out[name] = dist
        return out

    # --- Optuna (TPE) -----------------------------------------------------------------
    def suggest(self, trial) -> dict:
        """Draw a point through an ``optuna.Trial`` (define-by-run, so deeper layers'
        widths are conditional on ``n_layers``)."""
        point = {}
        for name, dist in self.params.items():
            if isinstance(dist, Layers):
                count = f"{name}.n_layers"
                point[count] = _suggest(trial, count, dist.n_layers)
                for leaf, d in dist.leaves(name, point[count]).items():
                    if leaf not in point:
                        point[leaf] = _suggest(trial, leaf, d)
            else:
                point[name] = _suggest(trial, name, dist)
        return point

    def optuna_params(self, point: dict) -> tuple[dict, dict]:
        """``(params, distributions)`` to replay ``point`` into a study
        (``optuna.trial.create_trial``); choices are stored as indices."""
        params, dists = {}, {}
        for leaf, dist in self.leaves(point).items():
            dists[leaf] = _optuna_distribution(dist)
            value = point[leaf]
            params[leaf] = dist.index(value) if isinstance(dist, Choice) else value
        return params, dists

    def to_dict(self) -> dict:
        return {name: dist.to_dict() for name, dist in self.params.items()}

    def __repr__(self):
        return f"SearchSpace({self.params!r})"


def _optuna_distribution(dist: Distribution):
    import optuna  # optional dependency (the tune extra): only the TPE strategy needs it

    if isinstance(dist, Choice):  # values may be lists: Optuna sees their indices
        return optuna.distributions.CategoricalDistribution(list(range(len(dist.values))))
    if isinstance(dist, IntRange):
        return optuna.distributions.IntDistribution(dist.low, dist.high, log=dist.log)
    return optuna.distributions.FloatDistribution(dist.low, dist.high, log=dist.log)


def _suggest(trial, name: str, dist: Distribution):
    if isinstance(dist, Choice):
        return dist.values[trial.suggest_categorical(name, list(range(len(dist.values))))]
    if isinstance(dist, IntRange):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)
