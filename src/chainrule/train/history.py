"""``History``: the per-epoch metrics of a run, as a list of dicts."""

from __future__ import annotations


class History:
    """One dict per finished epoch: ``epoch`` (1-based), ``train_loss``, ``train_accuracy``,
    ``val_loss``, ``val_accuracy``, ``lr``, ``seconds``, ``step``.

    ``history[i]`` is epoch i's dict; ``history["val_loss"]`` is that metric across epochs
    (None where it was not measured); ``history.last`` is the latest dict.
    ``stop_reason`` says why a callback stopped the run early (e.g. a NaN loss), else None.

    ``fit`` also records what the finished epochs alone do not show when a run stops part
    way through an epoch: ``steps`` (optimizer steps taken in the whole run),
    ``epochs_run`` (epochs begun, the unfinished one included) and ``seconds`` (training
    time, the unfinished epoch's included).
    """

    def __init__(self, epochs=None):
        self.epochs: list[dict] = [dict(e) for e in (epochs or [])]
        self.stop_reason: str | None = None
        self.steps = int(self.epochs[-1].get("step", 0)) if self.epochs else 0
        self.epochs_run = len(self.epochs)
        self.seconds = float(sum(e.get("seconds", 0.0) for e in self.epochs))

    def append(self, logs: dict) -> None:
        self.epochs.append(dict(logs))

    def __len__(self) -> int:
        return len(self.epochs)

    def __iter__(self):
        return iter(self.epochs)

    def __getitem__(self, key):
        if isinstance(key, str):
            return [e.get(key) for e in self.epochs]
        return self.epochs[key]

    @property
    def last(self) -> dict | None:
        return self.epochs[-1] if self.epochs else None

    def best(self, metric: str = "val_loss", mode: str = "min") -> dict | None:
        """The epoch dict with the best value of ``metric`` (None if never measured)."""
        measured = [e for e in self.epochs if e.get(metric) is not None]
        if not measured:
            return None
        pick = min if mode == "min" else max
        return pick(measured, key=lambda e: e[metric])

    def to_list(self) -> list[dict]:
        return [dict(e) for e in self.epochs]

    def _repr_mimebundle_(self, include=None, exclude=None):
        # late-bound: chainrule.display sits above this layer (DESIGN.md), so it is
        # imported on the first notebook display, never when this module is imported
        from chainrule.display import mimebundle

        return mimebundle(self, include, exclude)

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, last={self.last})"
