"""``solver="lbfgs"``: scipy's L-BFGS-B over the flattened parameters, with chainrule's
gradient.

L-BFGS is a full-batch quasi-Newton method whose line search evaluates the objective at
points of its own choosing, so it cannot be written as ``cr.train.fit``'s minibatch
loop; what it shares with that path is everything else: the ``cr.nn.MLP``, the objective
(:mod:`chainrule.sklearn.objective`) and one ``backward()`` per evaluation::

    θ = concat(vec(p) for p in model.parameters())         (float64 for scipy)
    f(θ) = J(model with θ; X, y),  ∇f(θ) = concat(vec(p.grad))

scipy is given sklearn's options: ``maxiter=max_iter``, ``maxfun=max_fun``,
``gtol=tol``. The flattening is ``cr.nn.parameter_vector``'s (the one in chainrule).

**Always in float64.** L-BFGS-B decides convergence from differences of objective
values (``(f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) ≤ ftol ≈ 2.2e-9``) and from
curvature pairs ``(θ_{k+1} − θ_k, ∇f_{k+1} − ∇f_k)``; float32 rounds f to ~6e-8
relative, so the differences it sees are rounding noise: it then stops "converged"
early, or takes steps from noise. Measured with scikit-learn's own Poisson-GLM
equivalence test over seeds 0..99 (``bench/sklearn_lbfgs_seeds.py``): in float32, 13
fits were wrong without any warning (and 1 with one); in float64, none. So a float32
model is fitted with its parameters (and the data) temporarily in float64 and stored
back in float32 afterwards: ``dtype="float32"`` still gives float32 weights and fast
float32 prediction, but never a silently unconverged fit.

scipy's L-BFGS-B update does BLAS calls on vectors of a few thousand numbers, where
OpenBLAS's threads cost far more than they save (measured here: a 100-iteration fit on
300 rows took 3 s with the default threads, 0.1 s with one). So the optimizer's own
steps run with one BLAS thread and each objective evaluation (the big matmuls) with the
threads the caller had.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import ThreadpoolController

from chainrule.autograd.mode import no_grad
from chainrule.nn.parameter_vector import (
    gradients_to_vector,
    parameters_to_vector,
    vector_to_parameters,
)
from chainrule.tensor import Tensor


@contextlib.contextmanager
def in_float64(params):
    """The parameters' data in float64 for the duration (the same Parameter objects, so
    a loss function that holds them sees the change), back in their dtype after."""
    dtypes = [p.data.dtype for p in params]
    for p in params:
        p.data = p.data.astype(np.float64)
    try:
        yield
    finally:
        for p, dtype in zip(params, dtypes, strict=True):
            p.data = p.data.astype(dtype)


def _float64(a):
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def minimize(model, loss_fn, X, targets, *, max_iter, max_fun, tol, verbose=False):
    """Fit ``model`` in place (in float64, see above); returns ``(final objective,
    iterations)``.

    Warns ``ConvergenceWarning`` when scipy stops for any reason other than convergence
    (sklearn's ``_check_optimize_result``).
    """
    params = list(model.parameters())
    with in_float64(params):
        return _minimize(
            model, params, loss_fn, _float64(X), _float64(targets), max_iter, max_fun, tol, verbose
        )


def _minimize(model, params, loss_fn, X, targets, max_iter, max_fun, tol, verbose):
    with no_grad():
        theta0 = parameters_to_vector(params).data.copy()
    x = Tensor(X)
    model.train()

    blas = ThreadpoolController().select(user_api="blas")
    threads = max([info["num_threads"] for info in blas.info()], default=1)

    def objective(theta):
        vector_to_parameters(theta, params)
        for p in params:
            p.grad = None
        with blas.limit(limits=threads):
            loss = loss_fn(model(x), targets)
            loss.backward()
        return float(loss.data), gradients_to_vector(params, dtype=np.float64)

    iteration = [0]

    def report(intermediate_result):
        iteration[0] += 1
        print(f"L-BFGS iteration {iteration[0]}, loss = {intermediate_result.fun:.8f}")

    with blas.limit(limits=1):
        result = scipy.optimize.minimize(
            objective,
            theta0,
            method="L-BFGS-B",
            jac=True,
            callback=report if verbose else None,
            options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
        )
    if result.status != 0:
        message = result.message
        if isinstance(message, bytes):
            message = message.decode("latin1")
        warnings.warn(
            f"lbfgs failed to converge after {result.nit} iteration(s) "
            f"(status={result.status}): {message}. Increase the number of iterations "
            f"(max_iter={max_iter}) or max_fun, or scale the data.",
            ConvergenceWarning,
            stacklevel=4,
        )
    vector_to_parameters(result.x, params)
    for p in params:
        p.grad = None
    return float(result.fun), min(int(result.nit), max_iter)
