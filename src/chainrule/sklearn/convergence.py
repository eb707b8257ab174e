"""scikit-learn's training rules as ``cr.train`` callbacks.

- :class:`SklearnConvergence`: stopping and learning-rate rules, after every epoch;
- :class:`SklearnL2`: the L2 term's gradient as per-batch weight decay;
- :class:`SklearnAdamEpsilon`: sklearn's placement of Adam's ε.

After every epoch (sklearn's "iteration") SklearnConvergence records the epoch loss and
applies sklearn's rules, in sklearn's order:

1. ``loss_curve_`` gets the epoch's mean objective; ``t_`` grows by the rows seen.
2. Without early stopping, an epoch "does not improve" when
   ``loss > best_loss_ - tol``; with it, when ``val_score < best_validation_score_ + tol``
   (the validation score is accuracy or R², and the best weights are kept).
3. ``learning_rate="invscaling"`` (sgd): ``lr = learning_rate_init / (t_ + 1)^power_t``.
4. After more than ``n_iter_no_change`` such epochs in a row: stop — except with
   ``learning_rate="adaptive"`` (sgd), which divides the rate by 5 and carries on until
   it falls to 1e-6.

chainrule's ``schedule`` (not in sklearn) sets ``lr = learning_rate_init · f(epoch)`` at
the start of every epoch, counting epochs across ``partial_fit`` and warm starts.
"""

from __future__ import annotations

import functools

import numpy as np

from chainrule.optim import schedules
from chainrule.sklearn.objective import batch_norm, half_squared_norm
from chainrule.train.callbacks import Callback


def _cosine(epoch, total):
    return schedules.cosine(epoch, total_steps=total)


SCHEDULES = {
    "constant": lambda epoch, total: 1.0,
    "cosine": _cosine,
}


def schedule_factor(schedule, max_iter: int):
    """``f(epoch) -> lr factor`` for the ``schedule`` hyperparameter, or None."""
    if schedule is None:
        return None
    if callable(schedule):
        return schedule
    return functools.partial(SCHEDULES[schedule], total=max_iter)


def set_lr(optimizer, lr: float) -> None:
    """Change the learning rate the way sklearn's SGD experiences it.

    ``cr.optim.SGD`` keeps PyTorch's momentum buffer ``b ← μb + g`` and steps
    ``θ ← θ − lr·b``; sklearn keeps the velocity ``v ← μv − lr·g`` and steps ``θ ← θ + v``.
    While lr is constant ``v = −lr·b``; when lr changes, sklearn's velocity still carries
    the old rate, so the buffer is rescaled by ``lr_old / lr_new`` to keep ``−lr·b = v``
    (and the next steps are sklearn's, Nesterov's included).
    """
    for group in optimizer.param_groups:
        old = group["lr"]
        if group.get("momentum") and old != lr and old > 0 and lr > 0:
            for p in group["params"]:
                buf = optimizer.state.get(p, {}).get("momentum_buffer")
                if buf is not None:
                    buf *= old / lr
        group["lr"] = lr


class SklearnConvergence(Callback):
    """Drives one ``fit``/``partial_fit`` call of a chainrule.sklearn estimator.

    Args:
        est: the estimator; its fitted attributes (``loss_curve_``, ``t_``, ...) are
            updated in place, exactly where sklearn updates them.
        n_train: rows per epoch (``t_`` counts rows seen, as in sklearn).
        validation: ``(X_val, y_val, sample_weight_val)`` with early stopping, else None.
        incremental: a ``partial_fit`` call (one epoch, never a ConvergenceWarning).
        l2: the :class:`SklearnL2` of the same fit, whose L2 value joins the epoch loss.

    After training, ``stopped`` says whether the rules stopped it (converged) and
    ``max_iter_reached`` whether sklearn would warn that it had not converged.
    """

    def __init__(self, est, n_train: int, validation=None, incremental=False, l2=None):
        self.est = est
        self.l2 = l2
        self.n_train = n_train
        self.validation = validation
        self.incremental = incremental
        self.factor = schedule_factor(est.schedule, est.max_iter)
        self.stopped = False
        self.max_iter_reached = False

    def on_epoch_begin(self, trainer, epoch):
        if self.factor is not None:
            epochs_so_far = len(self.est.loss_curve_)
            set_lr(trainer.optimizer, self.est.learning_rate_init * self.factor(epochs_so_far))

    def on_epoch_end(self, trainer, epoch, logs):
        est = self.est
        est.n_iter_ += 1
        # the epoch's mean batch objective: the data loss (from the loop) plus the L2
        # term's value (accumulated by SklearnL2, outside the graph)
        l2_value = self.l2.value_sum / self.n_train if self.l2 is not None else 0.0
        est.loss_ = float(logs["train_loss"]) + l2_value
        est.t_ += self.n_train
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")

        self._update_no_improvement_count(trainer)

        sgd = est.solver == "sgd"
        if sgd and est.learning_rate == "invscaling" and self.factor is None:
            set_lr(trainer.optimizer, est.learning_rate_init / (est.t_ + 1) ** est.power_t)

        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.validation is not None else "Training loss"
            msg = (
                f"{what} did not improve more than tol={est.tol:f} for "
                f"{est.n_iter_no_change} consecutive epochs."
            )
            lr = trainer.lr
            if sgd and est.learning_rate == "adaptive" and lr > 1e-6:
                set_lr(trainer.optimizer, lr / 5.0)
                est._no_improvement_count = 0
                if est.verbose:
                    print(f"{msg} Setting learning rate to {lr / 5.0:f}")
            else:
                if est.verbose:
                    adaptive = sgd and est.learning_rate == "adaptive"
                    small = " Learning rate too small." if adaptive else ""
                    print(f"{msg}{small} Stopping.")
                self.stopped = True
                trainer.stop_training = True
                return

        if not self.incremental and est.n_iter_ == est.max_iter:
            self.max_iter_reached = True

    def _update_no_improvement_count(self, trainer):
        est = self.est
        if self.validation is not None:
            X_val, y_val, sw_val = self.validation
            score = est._score(X_val, y_val, sample_weight=sw_val)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_params = [p.data.copy() for p in trainer.model.parameters()]
        else:
            loss = est.loss_curve_[-1]
            if not np.isfinite(loss) or loss > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if loss < est.best_loss_:
                est.best_loss_ = loss


class SklearnAdamEpsilon(Callback):
    """Make ``cr.optim.Adam`` take sklearn's Adam step exactly.

    sklearn: ``θ ← θ − α·√c₂/c₁ · m / (√v + ε)``; torch and ``cr.optim.Adam``:
    ``θ ← θ − α·√c₂/c₁ · m / (√v + ε·√c₂)`` with ``c_i = 1 − β_iᵗ``. They differ only
    in where ε sits, which matters for coordinates whose gradients are ~ε. Setting the
    optimizer's ε to ``ε / √c₂`` before step t turns the second form into the first.
    """

    def __init__(self, epsilon: float, beta_2: float):
        self.epsilon = epsilon
        self.beta_2 = beta_2

    def on_batch_begin(self, trainer, step):
        optimizer = trainer.optimizer
        for group in optimizer.param_groups:
            state = optimizer.state.get(group["params"][0])
            t = (state["step"] if state else 0) + 1  # the step about to be taken
            group["eps"] = self.epsilon / (1.0 - self.beta_2**t) ** 0.5


class SklearnL2(Callback):
    """Apply the gradient of sklearn's L2 term, ``α·W / Σw``, as the optimizer's coupled
    weight decay on the weight matrices: set before every step, since Σw (the batch's
    size or weight sum) changes with the batch. ``weight_decay`` (chainrule's own
    hyperparameter) is added on top."""

    def __init__(self, alpha: float, weight_decay: float, weighted: bool, weights=()):
        self.alpha = alpha
        self.weight_decay = weight_decay
        self.weighted = weighted
        self.weights = list(weights)  # the weight matrices, for the term's value
        self.value_sum = 0.0  # Σ_batches n_b · α/Σw_b · ½Σ‖W‖² over this epoch

    def on_epoch_begin(self, trainer, epoch):
        self.value_sum = 0.0

    def on_after_backward(self, trainer):
        targets = trainer.last_batch[1]
        norm = batch_norm(targets, self.weighted)
        if self.alpha > 0:  # at the weights the batch's loss was computed with
            self.value_sum += len(targets) * (self.alpha / norm) * half_squared_norm(self.weights)
        for group in trainer.optimizer.param_groups:
            if group["params"][0].ndim >= 2:  # the weights group of cr.nn.param_groups
                group["weight_decay"] = self.alpha / norm + self.weight_decay
