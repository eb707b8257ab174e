"""The results store: records survive a torn last line, later records win, a folder refuses
a different sweep, and NaN is written as strict JSON."""

import json

import pytest

from chainrule.sweep import ResultStore


def rec(i, status="completed", **kw):
    return {"id": f"t{i}", "index": i, "status": status, "metric": 0.5, **kw}


def test_records_round_trip_and_later_records_win(tmp_path):
    store = ResultStore(tmp_path / "s")
    store.open({"spec": 1}, "fp")
    store.append(rec(0, "failed", error="boom"))
    store.append(rec(1))
    store.append(rec(0, "completed"))  # a retried trial
    records = ResultStore(tmp_path / "s").records()
    assert list(records) == ["t0", "t1"]
    assert records["t0"]["status"] == "completed"


def test_a_torn_last_line_is_ignored_then_trimmed(tmp_path):
    store = ResultStore(tmp_path)
    store.open({}, "fp")
    store.append(rec(0))
    store.append(rec(1))
    whole = store.path.read_bytes()
    store.path.write_bytes(whole + b'{"id": "t2", "ind')  # killed in the middle of a write
    assert list(ResultStore(tmp_path).records()) == ["t0", "t1"]
    again = ResultStore(tmp_path)
    again.open({}, "fp")  # the next run trims the fragment before appending
    assert again.path.read_bytes() == whole
    again.append(rec(2))
    assert list(again.records()) == ["t0", "t1", "t2"]


def test_a_folder_of_another_sweep_is_refused(tmp_path):
    ResultStore(tmp_path).open({"a": 1}, "one")
    ResultStore(tmp_path).open({"a": 1}, "one")  # the same sweep: fine
    with pytest.raises(ValueError, match="holds a different sweep"):
        ResultStore(tmp_path).open({"a": 2}, "two")


def test_non_finite_numbers_become_null(tmp_path):
    store = ResultStore(tmp_path)
    store.open({}, "fp")
    store.append(rec(0, metrics={"val_loss": float("nan"), "x": [1.0, float("inf")]}))
    line = store.path.read_text().strip()
    assert "NaN" not in line and "Infinity" not in line
    assert json.loads(line)["metrics"] == {"val_loss": None, "x": [1.0, None]}


def test_sweep_report_needs_a_sweep_folder(tmp_path):
    with pytest.raises(OSError, match="is not a sweep folder"):
        ResultStore(tmp_path).meta()


def test_recording_is_idempotent_per_trial_id(tmp_path):
    store = ResultStore(tmp_path / "s")
    store.open({}, "fp")
    assert store.append(rec(0, metric=0.7))
    assert not store.append(rec(0, metric=0.1))  # the same trial reported again: ignored
    assert store.append(rec(1, "timeout", metric=None))
    assert store.append(rec(1, "pruned", metric=0.2))  # a timed-out trial retried
    assert not store.append(rec(1, "failed", metric=None))
    # a fresh store over the same folder knows what is final from the file
    again = ResultStore(tmp_path / "s")
    assert not again.append(rec(0, metric=0.3))
    lines = (tmp_path / "s" / "trials.jsonl").read_text().splitlines()
    assert [(r["id"], r["status"]) for r in map(json.loads, lines)] == [
        ("t0", "completed"),
        ("t1", "timeout"),
        ("t1", "pruned"),
    ]
    assert again.records()["t0"]["metric"] == 0.7


def test_records_file_honours_the_umask(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        store = ResultStore(tmp_path / "s")
        store.open({}, "fp")
        store.append(rec(0))
    finally:
        os.umask(old)
    assert (tmp_path / "s" / "trials.jsonl").stat().st_mode & 0o777 == 0o640
