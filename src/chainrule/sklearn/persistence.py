"""``est.save(path)`` / ``Estimator.load(path)``: a fitted estimator in chainrule's safe
checkpoint format (``cr.save``: a safetensors file with JSON metadata, never unpickled;
``.npz`` paths still get chainrule 0.1's archive, and both load).

The weights (the MLP's ``state_dict``) and the optimizer's buffers are arrays; the
hyperparameters, ``classes_``, ``feature_names_in_`` and the other fitted attributes are
JSON. Hyperparameters that JSON cannot hold (a callable ``init``/``schedule``, a
``RandomState`` as ``random_state``) make ``save`` fail with a message naming them:
pickle the estimator instead (sklearn's convention) if you need those.
"""

from __future__ import annotations

import numbers

import numpy as np

from chainrule.interop.checkpoint import load, save

FORMAT = "chainrule-sklearn-estimator"
VERSION = 1
_FITTED = (
    "n_features_in_",
    "n_outputs_",
    "n_layers_",
    "out_activation_",
    "n_iter_",
    "t_",
    "loss_",
    "loss_curve_",
    "best_loss_",
    "validation_scores_",
    "best_validation_score_",
    "_no_improvement_count",
)


def _json_param(name, value):
    if value is None or isinstance(value, (bool, str, numbers.Number)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (list, tuple)) and all(isinstance(v, numbers.Integral) for v in value):
        return type(value)(int(v) for v in value)  # cr.save keeps tuples as tuples
    raise ValueError(
        f"save: the hyperparameter {name}={value!r} cannot be stored as JSON; "
        "pickle the estimator instead, or set it to a plain value"
    )


def _labels_to_json(classes):
    return {
        "dtype": classes.dtype.str if classes.dtype.kind != "O" else "O",
        "values": [v.item() if isinstance(v, np.generic) else v for v in classes],
    }


def _labels_from_json(doc):
    dtype = np.dtype(object) if doc["dtype"] == "O" else np.dtype(doc["dtype"])
    return np.array(doc["values"], dtype=dtype)


def save_estimator(est, path) -> None:
    params = {k: _json_param(k, v) for k, v in est.get_params(deep=False).items()}
    fitted = {k: getattr(est, k) for k in _FITTED if hasattr(est, k)}
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "estimator": type(est).__name__,
        "params": params,
        "fitted": fitted,
        "layer_units": [lin.in_features for lin in est._model.linears]
        + [est._model.linears[-1].out_features],
        "dtype": est._dtype.name,
        "model": est._model.state_dict(),
        "optimizer": est._optimizer.state_dict() if hasattr(est, "_optimizer") else None,
    }
    if hasattr(est, "classes_"):
        doc["classes"] = _labels_to_json(np.asarray(est.classes_))
        doc["label_type"] = est._label_binarizer.y_type_
    if hasattr(est, "feature_names_in_"):
        doc["feature_names_in"] = [str(f) for f in est.feature_names_in_]
    save(doc, path)


def load_estimator(cls, path):
    from sklearn.preprocessing import LabelBinarizer

    doc = load(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path} is a chainrule checkpoint but not a saved estimator")
    if doc["estimator"] != cls.__name__:
        raise ValueError(f"{path} holds a {doc['estimator']}, not a {cls.__name__}")
    est = cls(**doc["params"])
    for k, v in doc["fitted"].items():
        setattr(est, k, v)
    if "classes" in doc:
        classes = _labels_from_json(doc["classes"])
        lb = LabelBinarizer()
        if doc["label_type"] == "multilabel-indicator":
            lb.fit(np.eye(len(classes), dtype=int))
        else:
            lb.fit(classes)
        est._label_binarizer = lb
        est.classes_ = lb.classes_
    if "feature_names_in" in doc:
        est.feature_names_in_ = np.asarray(doc["feature_names_in"], dtype=object)
    # files written before the estimators followed the input's dtype were float32
    est._fit_dtype = np.dtype(doc.get("dtype", "float32"))
    est._model = est._build_model(doc["layer_units"])
    est._model.load_state_dict(doc["model"])
    est._model.eval()
    if doc["optimizer"] is not None:
        est._optimizer = est._make_optimizer()
        est._optimizer.load_state_dict(doc["optimizer"])
    return est
