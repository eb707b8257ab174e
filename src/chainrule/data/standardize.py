"""Standardizer: zero mean, unit variance per feature, fitted on the training split only.

Fitting on the training rows alone is the point: statistics taken over the test rows would
leak them into training. Constant features (std 0) get std 1, so they map to 0 instead of
NaN. The statistics are kept in float64 and saved as plain lists, so a checkpoint can carry
them in JSON and reproduce the exact transform at inference time.
"""

from __future__ import annotations

import numpy as np


class Standardizer:
    """``transform(X) = (X - mean) / std``, per column, with ``mean``/``std`` from ``fit``."""

    def __init__(self):
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, X) -> Standardizer:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"Standardizer.fit: expected a non-empty 2-D array, got {X.shape}")
        self.mean = X.mean(axis=0)
        std = X.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        return self

    def _check(self, X, what: str) -> np.ndarray:
        if self.mean is None:
            raise ValueError(f"Standardizer.{what}: call fit() or load_state_dict() first")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.mean):
            raise ValueError(
                f"Standardizer.{what}: expected shape (n, {len(self.mean)}), got {X.shape}"
            )
        return X

    @staticmethod
    def _out_dtype(X: np.ndarray):
        # float inputs keep their precision; integer pixels become float32 like every loader
        return X.dtype if X.dtype.kind == "f" else np.float32

    def transform(self, X) -> np.ndarray:
        X = self._check(X, "transform")
        return ((X - self.mean) / self.std).astype(self._out_dtype(X), copy=False)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z) -> np.ndarray:
        """Back to original units (e.g. a regression model's standardized predictions)."""
        Z = self._check(Z, "inverse_transform")
        return (Z * self.std + self.mean).astype(self._out_dtype(Z), copy=False)

    def state_dict(self) -> dict:
        """``{"mean": [...], "std": [...]}`` as plain float lists (JSON-serialisable)."""
        if self.mean is None:
            raise ValueError("Standardizer.state_dict: not fitted")
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    def load_state_dict(self, state: dict) -> None:
        mean = np.asarray(state["mean"], dtype=np.float64).reshape(-1)
        std = np.asarray(state["std"], dtype=np.float64).reshape(-1)
        if mean.shape != std.shape or not (np.isfinite(std).all() and (std > 0).all()):
            raise ValueError("Standardizer.load_state_dict: mean/std must match and std be > 0")
        self.mean, self.std = mean, std

    def __repr__(self) -> str:
        fitted = "unfitted" if self.mean is None else f"{len(self.mean)} features"
        return f"Standardizer({fitted})"
