"""How often L-BFGS returns a wrong fit, over many seeds: scikit-learn's own
``test_mlp_vs_poisson_glm_equivalent`` (an MLP with Poisson loss and one identity
hidden unit must predict what ``PoissonRegressor`` predicts, to rtol 1e-4) run with
chainrule's ``MLPRegressor`` for seeds 0..N-1.

Each seed is counted as a pass, a failure with a ``ConvergenceWarning`` (wrong, but the
user was told) or a silent failure (wrong, no warning)::

    python bench/sklearn_lbfgs_seeds.py                  # the estimator's default dtype
    python bench/sklearn_lbfgs_seeds.py --dtype float32  # force float32 weights

Not a timing benchmark: the counts do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import functools
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network.tests import test_mlp as upstream

from chainrule.sklearn import MLPRegressor


def run_seed(seed: int, dtype: str | None) -> str:
    """'pass', 'warned' or 'silent' for one seed of sklearn's Poisson-GLM test."""
    regressor = MLPRegressor if dtype is None else functools.partial(MLPRegressor, dtype=dtype)
    saved = upstream.MLPRegressor
    upstream.MLPRegressor = regressor
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            upstream.test_mlp_vs_poisson_glm_equivalent(seed)
        return "pass"
    except AssertionError:
        warned = any(issubclass(w.category, (ConvergenceWarning, RuntimeWarning)) for w in caught)
        return "warned" if warned else "silent"
    finally:
        upstream.MLPRegressor = saved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--dtype", choices=["float32", "float64"], default=None)
    args = parser.parse_args(argv)
    outcomes = {seed: run_seed(seed, args.dtype) for seed in range(args.seeds)}
    counts = {k: sum(v == k for v in outcomes.values()) for k in ("pass", "warned", "silent")}
    dtype = args.dtype or "default (the input's: float64)"
    print(
        f"dtype {dtype}, {args.seeds} seeds: {counts['pass']} pass, "
        f"{counts['warned']} fail with a warning, {counts['silent']} fail silently"
    )
    failing = [s for s, v in outcomes.items() if v != "pass"]
    if failing:
        print("failing seeds:", " ".join(f"{s}({outcomes[s]})" for s in failing))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
