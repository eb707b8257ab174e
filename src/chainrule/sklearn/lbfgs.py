"""``solver="lbfgs"``: scipy's L-BFGS-B over the flattened parameters, with chainrule's
gradient.

L-BFGS is a full-batch quasi-Newton method whose line search evaluates the objective at
points of its own choosing, so it cannot be written as ``cr.train.fit``'s minibatch
loop; what it shares with that path is everything else: the ``cr.nn.MLP``, the objective
(:mod:`chainrule.sklearn.objective`) and one ``backward()`` per evaluation::

    θ = concat(vec(p) for p in model.parameters())         (float64 for scipy)
    f(θ) = J(model with θ; X, y),  ∇f(θ) = concat(vec(p.grad))

scipy is given sklearn's options: ``maxiter=max_iter``, ``maxfun=max_fun``,
``gtol=tol``.

scipy's L-BFGS-B update does BLAS calls on vectors of a few thousand numbers, where
OpenBLAS's threads cost far more than they save (measured here: a 100-iteration fit on
300 rows took 3 s with the default threads, 0.1 s with one). So the optimizer's own
steps run with one BLAS thread and each objective evaluation (the big matmuls) with the
threads the caller had.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import ThreadpoolController

from chainrule.tensor import Tensor


def _set_flat(params, theta):
    start = 0
    for p in params:
        n = p.data.size
        p.data[...] = theta[start : start + n].reshape(p.data.shape)
        start += n


def minimize(model, loss_fn, X, targets, *, max_iter, max_fun, tol, verbose=False):
    """Fit ``model`` in place; returns ``(final objective, iterations)``.

    Warns ``ConvergenceWarning`` when scipy stops for any reason other than convergence
    (sklearn's ``_check_optimize_result``).
    """
    params = list(model.parameters())
    theta0 = np.concatenate([p.data.ravel() for p in params]).astype(np.float64)
    x = Tensor(X)
    model.train()

    blas = ThreadpoolController().select(user_api="blas")
    threads = max([info["num_threads"] for info in blas.info()], default=1)

    def objective(theta):
        _set_flat(params, theta)
        for p in params:
            p.grad = None
        with blas.limit(limits=threads):
            loss = loss_fn(model(x), targets)
            loss.backward()
        grad = np.concatenate(
            [p.grad.data.ravel() if p.grad is not None else np.zeros(p.data.size) for p in params]
        )
        return float(loss.data), grad.astype(np.float64)

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
            stacklevel=3,
        )
    _set_flat(params, result.x)
    for p in params:
        p.grad = None
    return float(result.fun), min(int(result.nit), max_iter)
