"""The real ``chainrule sweep`` / ``sweep-report`` commands in subprocesses: a sweep killed
with SIGKILL resumes without losing or re-running finished trials; bad input exits 2 with
one line; Ray missing or unreachable says how to install it or which address failed."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from chainrule.experiment.config import TrainConfig, read_config

CLI = [sys.executable, "-m", "chainrule"]


def run(args, cwd, env=None, timeout=240):
    return subprocess.run(
        CLI + args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or os.environ.copy(),
        stdin=subprocess.DEVNULL,
    )


TOY_SPEC = """
[sweep]
objective = "sweep_toy_objectives:toy"
strategy = "random"
trials = 8
seed = 1
[base]
epochs = 3
sleep = 0.1
calls = "{calls}"
[search]
lr = {{loguniform = [1e-4, 1.0]}}
units = [16, 64, 256]
"""


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: fall back to signal 0
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_sigkill_then_rerun_resumes_without_losing_or_repeating(toy_path, tmp_path):
    calls = tmp_path / "calls.txt"
    spec = tmp_path / "toy.toml"
    spec.write_text(TOY_SPEC.format(calls=calls))
    out = tmp_path / "sweep"
    proc = subprocess.Popen(
        CLI + ["sweep", str(spec), "--out", str(out), "--workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    records = out / "trials.jsonl"
    deadline = time.monotonic() + 120
    while len(lines(records)) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = records.read_bytes()
    killed = lines(records)
    assert 3 <= len(killed) < 8, "the sweep should have been killed mid-way"
    started_before = calls.read_text().splitlines()
    # the orphaned pool workers notice the driver is gone and exit by themselves
    workers = {r["pid"] for r in killed}
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), "pool workers outlived the killed sweep"

    done = run(["sweep", str(spec), "--out", str(out), "--workers", "2"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"resuming: {len(killed)} of 8 trials already finished\n" in done.stderr
    after = records.read_bytes()
    assert after.startswith(before)  # nothing recorded was lost or rewritten
    final = lines(records)
    assert sorted(r["index"] for r in final) == list(range(8))  # each trial exactly once
    assert all(r["status"] == "completed" for r in final)
    # the trials finished before the kill were not started again
    started = calls.read_text().splitlines()

    def key(r):
        return f"{r['params']['lr']!r},{r['params']['units']!r}"

    for r in killed:
        assert started.count(key(r)) == 1, r["params"]
    assert len(started) >= len(started_before) + 8 - len(killed)
    assert "rank" in done.stdout and "completed" in done.stdout

    report = run(["sweep-report", str(out), "--top", "3"], tmp_path)
    assert report.returncode == 0, report.stderr
    table = report.stdout.splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("rank"))
    assert [row.split()[0] for row in table[header + 2 : header + 5]] == ["1", "2", "3"]
    assert "... 5 more" in report.stdout


def test_real_training_sweep_writes_a_loadable_best_toml(tmp_path):
    spec = tmp_path / "digits.toml"
    spec.write_text("""
[sweep]
strategy = "grid"
[base]
data = "digits"
epochs = 2
val_split = 0.2
[search]
lr = [0.05, 1e6]
layers = {n_layers = [1, 1], units = [16, 16]}
""")
    out = tmp_path / "sw"
    res = run(["sweep", str(spec), "--out", str(out), "--workers", "2"], tmp_path)
    assert res.returncode == 0, res.stderr
    recs = {r["params"]["lr"]: r for r in lines(out / "trials.jsonl")}
    good, bad = recs[0.05], recs[1e6]
    assert good["status"] == "completed" and 0.5 < good["metric"] <= 1
    assert good["metrics"]["test_accuracy"] > 0.5 and good["params"]["layers"] == [16]
    assert [row["epoch"] for row in good["history"]] == [1, 2]
    assert bad["status"] == "failed" and "nan" in bad["error"].lower()
    # best.toml is a chainrule train config with the winning options
    config = TrainConfig.from_dict(read_config(out / "best.toml"))
    assert (config.lr, config.layers, config.epochs, config.data) == (0.05, [16], 2, "digits")
    train = subprocess.run(
        CLI
        + ["train", "--config", str(out / "best.toml"), "--out", str(tmp_path / "run"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert train.returncode == 0, train.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(good["metrics"]["test_accuracy"])
    if (out / "plots.png").exists():
        assert (out / "plots.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "spec_text,message",
    [
        (
            "[search]\nlr = {loguniform = [0, 0.1]}\n",
            "chainrule sweep: error: sweep spec: search.lr.loguniform: bounds must be positive, got [0, 0.1]",
        ),
        (
            "[search]\nlayers = {n_layers = [1, 3], units = {loguniform_int = [32, 0]}}\n",
            "chainrule sweep: error: sweep spec: search.layers.units.loguniform_int: bounds must be positive",
        ),
    ],
)
def test_invalid_spec_exits_2_with_one_line_and_runs_nothing(tmp_path, spec_text, message):
    spec = tmp_path / "bad.toml"
    spec.write_text(spec_text)
    res = run(["sweep", str(spec), "--out", str(tmp_path / "o")], tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().startswith(message) and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_missing_spec_and_bad_report_folder_exit_2(tmp_path):
    res = run(["sweep", str(tmp_path / "none.toml")], tmp_path)
    assert res.returncode == 2 and "sweep spec not found" in res.stderr
    res = run(["sweep-report", str(tmp_path)], tmp_path)
    assert res.returncode == 2 and "is not a sweep folder" in res.stderr


SMALL = "[base]\nepochs = 1\n[search]\nlr = [0.05]\n"


def test_ray_missing_says_how_to_install(tmp_path):
    blocker = tmp_path / "noray"
    (blocker / "ray").mkdir(parents=True)
    (blocker / "ray" / "__init__.py").write_text("raise ImportError('no ray here')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    spec = tmp_path / "s.toml"
    spec.write_text(SMALL)
    res = run(
        ["sweep", str(spec), "--executor", "ray", "--out", str(tmp_path / "o")], tmp_path, env
    )
    assert res.returncode == 2
    assert (
        res.stderr.strip()
        == "chainrule sweep: error: Ray is not installed: pip install 'chainrule[ray]'"
    )


def test_ray_unreachable_names_the_address(tmp_path):
    pytest.importorskip("ray")
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = tmp_path / "s.toml"
    spec.write_text(SMALL)
    address = f"127.0.0.1:{port}"
    res = run(
        [
            "sweep",
            str(spec),
            "--executor",
            "ray",
            "--address",
            address,
            "--out",
            str(tmp_path / "o"),
        ],
        tmp_path,
        timeout=60,
    )
    assert res.returncode == 2
    line = res.stderr.strip()
    assert line.startswith(
        f"chainrule sweep: error: could not connect to a Ray cluster at {address}"
    )
    assert len(line.splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing written when no trial can run


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--workers", "0"], "--workers must be a positive integer, got '0'"),
        (["--workers", "two"], "--workers must be a positive integer, got 'two'"),
        (["--threads", "-1"], "--threads must be a positive integer, got '-1'"),
        (["--trials", "2.5"], "--trials must be a positive integer, got '2.5'"),
        (["--top", "-1"], "--top must be an integer >= 0, got '-1'"),
        (["--trial-timeout", "0"], "--trial-timeout must be a positive number of seconds, got '0'"),
        (
            ["--trial-timeout", "-3"],
            "--trial-timeout must be a positive number of seconds, got '-3'",
        ),
        (
            ["--trial-timeout", "nan"],
            "--trial-timeout must be a positive number of seconds, got 'nan'",
        ),
        (
            ["--trial-timeout", "inf"],
            "--trial-timeout must be a positive number of seconds, got 'inf'",
        ),
        (
            ["--trial-timeout", "1m"],
            "--trial-timeout must be a positive number of seconds, got '1m'",
        ),
    ],
)
def test_invalid_numeric_option_is_one_line_naming_option_and_value(
    tmp_path, capsys, argv, message
):
    from chainrule.cli import main

    spec = tmp_path / "s.toml"
    spec.write_text(SMALL)
    code = main(["sweep", str(spec), "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"chainrule sweep: error: {message}\n"  # one line: no usage dump
    assert not (tmp_path / "o").exists()


def test_sweep_report_top_must_be_a_count(tmp_path, capsys):
    from chainrule.cli import main

    assert main(["sweep-report", str(tmp_path), "--top", "x"]) == 2
    assert (
        capsys.readouterr().err
        == "chainrule sweep-report: error: --top must be an integer >= 0, got 'x'\n"
    )


ALL_FAIL_SPEC = """
[sweep]
objective = "sweep_toy_objectives:toy"
strategy = "grid"
[base]
crash = true
[search]
lr = [0.01, 0.1]
"""


def test_every_trial_failed_exits_1_and_the_rerun_says_they_failed(toy_path, tmp_path):
    spec = tmp_path / "fail.toml"
    spec.write_text(ALL_FAIL_SPEC)
    argv = ["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", "1"]
    first = run(argv, tmp_path)
    assert first.returncode == 1, first.stderr
    assert first.stderr.splitlines()[-1] == (
        "chainrule sweep: every trial failed (2 of 2); the errors are listed above"
    )
    assert "2 failed trial(s):" in first.stdout and "RuntimeError: boom" in first.stdout
    again = run(argv, tmp_path)
    assert again.returncode == 1
    assert (
        "resuming: 2 of 2 trials already ran: 0 finished, 2 failed "
        "(kept; --retry-failed runs them again)"
    ) in again.stderr.splitlines()
    assert len(lines(tmp_path / "o" / "trials.jsonl")) == 2  # nothing ran again


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_sweep_and_its_workers_without_tracebacks(toy_path, tmp_path):
    calls = tmp_path / "calls.txt"
    spec = tmp_path / "toy.toml"
    spec.write_text(TOY_SPEC.format(calls=calls).replace("sleep = 0.1", "sleep = 0.5"))
    out = tmp_path / "sweep"
    proc = subprocess.Popen(
        CLI + ["sweep", str(spec), "--out", str(out), "--workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        # and SIGINT at its default, as a shell gives a foreground job: an ignored SIGINT
        # is inherited, and then the driver never sees Ctrl-C (once in a few full runs
        # here, the sweep ran all 8 trials and exited 0: something in this test process
        # had SIGINT ignored while it started the driver)
        preexec_fn=_default_sigint,
    )
    records = out / "trials.jsonl"
    deadline = time.monotonic() + 120
    while len(lines(records)) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the driver and its workers
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and err.rstrip().endswith("chainrule: interrupted")
    kept = lines(records)  # (resuming from here is the SIGKILL test's subject)
    assert 1 <= len(kept) < 8 and all(r["status"] == "completed" for r in kept)
