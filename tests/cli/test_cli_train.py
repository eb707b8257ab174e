"""The real ``chainrule train/evaluate/predict/info`` commands, run in subprocesses."""

import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

TINY = ["--layers", "16", "--epochs", "2", "--batch-size", "64", "--quiet", "--no-plots"]


def chainrule(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "chainrule", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def assert_user_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    result = chainrule("train", *TINY, "--plots", "--out", out)
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_writes_the_run_folder(run_dir):
    out, result = run_dir
    names = {p.name for p in out.iterdir()}
    assert {
        "config.toml",
        "metrics.jsonl",
        "metrics.json",
        "last.safetensors",
        "best.safetensors",
    } <= names
    pytest.importorskip("matplotlib")
    assert {"loss.png", "accuracy.png"} <= names
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "train_loss", "epochs", "seconds"):
        assert key in metrics
    assert metrics["epochs"] == 2 and 0.5 < metrics["test_accuracy"] <= 1
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert f"test accuracy {100 * metrics['test_accuracy']:.2f}%" in result.stdout


def test_config_toml_reruns_the_same_run(run_dir, tmp_path):
    out, _ = run_dir
    again = chainrule("train", "--config", out / "config.toml", "--out", tmp_path / "b")
    assert again.returncode == 0, again.stderr
    a = json.loads((out / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert (a["test_loss"], a["train_loss"]) == (b["test_loss"], b["train_loss"])


def test_command_line_overrides_the_config_file(tmp_path):
    (tmp_path / "c.toml").write_text(
        "[model]\nlayers = [8]\n[optimization]\nepochs = 5\nbatch-size = 128\n"
        "[run]\nquiet = true\nplots = false\n"
    )
    result = chainrule(
        "train", "--config", tmp_path / "c.toml", "--epochs", "1", "--out", tmp_path / "r"
    )
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "r" / "config.toml").read_text()
    assert "epochs = 1\n" in written and "layers = [8]\n" in written
    assert "batch_size = 128\n" in written and "lr = 0.05\n" in written  # lr resolved


def test_evaluate_matches_the_final_test_accuracy(run_dir):
    out, _ = run_dir
    metrics = json.loads((out / "metrics.json").read_text())
    result = chainrule("evaluate", out / "last.safetensors")
    assert result.returncode == 0, result.stderr
    assert f"accuracy {100 * metrics['test_accuracy']:.2f}%" in result.stdout
    assert f"loss {metrics['test_loss']:.4f}" in result.stdout
    assert chainrule("evaluate", out).returncode == 0  # a run folder: its best.ckpt.npz


def test_predict_writes_classes_and_probabilities(run_dir, tmp_path):
    from chainrule.data import load_dataset
    from chainrule.data.prepare import prepare_inputs
    from chainrule.experiment.run_folder import restore_model
    from chainrule.train.loop import predict

    out, _ = run_dir
    X = load_dataset("digits").X_test[:7]
    with open(tmp_path / "x.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"px{i}" for i in range(64)])  # a header line is skipped
        writer.writerows(X.tolist())
    result = chainrule(
        "predict",
        out / "best.safetensors",
        "--input",
        tmp_path / "x.csv",
        "--output",
        tmp_path / "p.csv",
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(open(tmp_path / "p.csv")))
    assert rows[0] == ["prediction"] + [f"p_{k}" for k in range(10)]
    probs = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    model, _config, data_state, _ = restore_model(out / "best.safetensors")
    logits = predict(model, prepare_inputs(X, data_state, np.float32))
    assert [int(r[0]) for r in rows[1:]] == logits.argmax(axis=1).tolist()
    to_stdout = chainrule("predict", out / "best.safetensors", "--input", tmp_path / "x.csv")
    assert to_stdout.stdout.splitlines()[1:] == [",".join(r) for r in rows[1:]]


def test_predict_refuses_the_wrong_number_of_columns(run_dir, tmp_path):
    out, _ = run_dir
    (tmp_path / "x.csv").write_text("1,2,3\n4,5,6\n")
    assert_user_error(
        chainrule("predict", out, "--input", tmp_path / "x.csv"),
        "rows have 3 columns, the model expects 64 features",
    )
    (tmp_path / "y.csv").write_text("1,2\n4,oops\n")
    assert_user_error(
        chainrule("predict", out, "--input", tmp_path / "y.csv"),
        "line 2, column 2: not a number: 'oops'",
    )


def test_corrupted_checkpoint_is_one_clear_error(run_dir, tmp_path):
    out, _ = run_dir
    raw = (out / "last.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(raw[: len(raw) // 2])
    assert_user_error(
        chainrule("evaluate", tmp_path / "cut.safetensors"),
        "cut.safetensors is not a readable chainrule checkpoint",
        "truncated: ",
    )


def test_resume_with_another_architecture_names_the_mismatch(run_dir):
    out, _ = run_dir
    result = chainrule("train", "--resume", out, "--layers", "32")
    assert_user_error(
        result,
        "cannot resume from",
        "different architecture",
        "layers.0.weight has shape (16, 64) in the checkpoint but (32, 64)",
    )


def test_an_existing_run_folder_is_not_overwritten(run_dir):
    out, _ = run_dir
    assert_user_error(chainrule("train", *TINY, "--out", out), "already holds a run", "--resume")


@pytest.mark.parametrize(
    "args, fragments",
    [
        (
            ["--lrr", "0.1"],
            ["unrecognized argument --lrr (did you mean --lr?)", "valid options: --activation"],
        ),
        (["--optimizer", "sgdd"], ["invalid choice 'sgdd'; choose from: sgd, adam"]),
        (["--data", "foo"], ["unknown data set 'foo'; choose from: digits, mnist"]),
        (["--epochs", "0"], ["epochs must be >= 1"]),
        (["--layers", "5,x"], ["comma-separated list of integers"]),
    ],
)
def test_bad_options_are_one_line_errors(args, fragments, tmp_path):
    result = chainrule("train", *args, "--out", tmp_path / "r")
    assert_user_error(result, *fragments)
    assert not (tmp_path / "r").exists()


def test_unknown_config_key_lists_the_valid_keys(tmp_path):
    (tmp_path / "c.toml").write_text("lrr = 0.1\n")
    result = chainrule("train", "--config", tmp_path / "c.toml")
    assert_user_error(result, "unknown", "key 'lrr' (did you mean lr?); valid keys: data, data_dir")


def test_nan_in_a_csv_data_set_is_named(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,x\n3,nan,y\n5,6,x\n7,8,y\n")
    result = chainrule("train", "--data", tmp_path / "d.csv", *TINY)
    assert_user_error(result, "line 3", "column 2")


def test_labels_out_of_range_for_the_model(tmp_path):
    out = tmp_path / "moons"
    train = chainrule("train", "--data", "moons", *TINY, "--out", out)
    assert train.returncode == 0, train.stderr
    # blobs: also 2 features, but 3 classes — label 2 has no output unit
    assert_user_error(
        chainrule("evaluate", out, "--data", "blobs"),
        "label 2",
        "out of range for a model with 2 outputs",
    )


def test_divergence_stops_with_a_message_and_exit_code_1(tmp_path):
    result = chainrule(
        "train", *TINY, "--lr", "1e9", "--schedule", "constant", "--out", tmp_path / "r"
    )
    assert result.returncode == 1, result.stderr
    assert "training stopped: loss became" in result.stderr and "at epoch 1, step" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def _info(env):
    result = subprocess.run(
        [sys.executable, "-m", "chainrule", "info"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_info_reports_versions_and_blas():
    # whatever thread variables this machine sets (OPENBLAS_CORETYPE on some), the report
    # reads the same: keys and values parsed, not a column width assumed
    env = {k: v for k, v in os.environ.items() if k != "MKL_NUM_THREADS"}
    plain, with_var = _info(env), _info({**env, "MKL_NUM_THREADS": "1"})  # MKL: unused here
    fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in plain.splitlines())
    assert fields["numpy"] == np.__version__
    assert fields["default dtype"] == "float32"
    extra = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in with_var.splitlines())
    assert extra["MKL_NUM_THREADS"] == "1"
    # one more variable set: one more line, every other line unchanged (a stable layout)
    assert [line for line in with_var.splitlines() if "MKL_NUM_THREADS" not in line] == (
        plain.splitlines()
    )
    if pytest.importorskip("threadpoolctl"):
        assert "BLAS" in fields and "threads" in fields["BLAS"]


def test_help_reads_like_documentation():
    text = chainrule("train", "--help").stdout
    for section in (
        "data:",
        "model:",
        "optimization:",
        "regularization:",
        "learning-rate schedule:",
        "run:",
        "examples:",
        "--resume runs/a",
    ):
        assert section in text
    assert "examples:" in chainrule("evaluate", "--help").stdout
    assert "examples:" in chainrule("predict", "--help").stdout
    env = dict(os.environ, COLUMNS="100")
    assert (
        subprocess.run(
            [sys.executable, "-m", "chainrule", "--help"], env=env, capture_output=True, text=True
        ).stdout.count("train")
        >= 1
    )


def test_monitor_and_detect_anomaly_flags(tmp_path):
    pytest.importorskip("chainrule.diagnostics.monitor")
    result = chainrule(
        "train", *TINY, "--monitor", "5", "--detect-anomaly", "--out", tmp_path / "r"
    )
    assert result.returncode == 0, result.stderr
    records = (tmp_path / "r" / "monitor.jsonl").read_text().splitlines()
    assert records and json.loads(records[0])


def test_a_diverged_run_writes_valid_json_with_the_real_counts(tmp_path):
    out = tmp_path / "r"
    result = chainrule("train", *TINY, "--lr", "1e9", "--schedule", "constant", "--out", out)
    assert result.returncode == 1, result.stderr
    assert "RuntimeWarning" not in result.stderr  # NumPy's overflow noise stays out

    def refuse(constant):  # what a strict JSON parser (any other language) does
        raise ValueError(f"not JSON: {constant}")

    metrics = json.loads((out / "metrics.json").read_text(), parse_constant=refuse)
    step = int(result.stderr.split("(global step ")[1].split(")")[0])
    assert step >= 1
    assert metrics["steps"] == step
    assert metrics["epochs"] == 1 and metrics["epochs_completed"] == 0
    assert metrics["test_loss"] is None
    assert "test_loss" in metrics["null_reasons"]
    assert "nan" in metrics["null_reasons"]["test_loss"]
    assert metrics["stop_reason"].startswith("loss became")
    assert f", {step} step" in result.stdout  # "1 epoch, 3 steps": singular or plural
    for line in (out / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=refuse)


def test_an_empty_layer_width_is_an_error_not_a_smaller_network(tmp_path):
    result = chainrule("train", *TINY, "--layers", "64,,32", "--out", tmp_path / "r")
    assert_user_error(result, "--layers", "empty entry", "'64,,32'")
    assert not (tmp_path / "r").exists()


def test_a_quoted_boolean_in_toml_is_refused(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[optimization]\nnesterov = "yes"\n')
    result = chainrule("train", "--config", config, *TINY, "--out", tmp_path / "r")
    assert_user_error(result, "'nesterov' must be true or false", "got 'yes'")
    assert not (tmp_path / "r").exists()


def test_a_misspelt_config_table_gets_a_did_you_mean(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[mdoel]\nlayers = [8]\n")
    result = chainrule("train", "--config", config, *TINY, "--out", tmp_path / "r")
    assert_user_error(result, "unknown table [mdoel] (did you mean [model]?)")


def test_a_folder_that_is_not_a_run_is_not_written_into(tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"not a run")
    result = chainrule("train", *TINY, "--out", out)
    assert_user_error(result, "is not a chainrule run folder", "'holiday.jpg'", "--out")
    assert sorted(p.name for p in out.iterdir()) == ["holiday.jpg"]
    assert result.stdout == ""  # refused before the "training ..." line
    (tmp_path / "empty").mkdir()  # an empty folder is fine
    assert chainrule("train", *TINY, "--out", tmp_path / "empty").returncode == 0


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_run_folder_that_cannot_be_made_says_why(tmp_path):
    result = chainrule("train", *TINY, "--out", "/proc/chainrule-run")
    assert_user_error(
        result, "cannot create the run folder /proc/chainrule-run", "/proc does not accept"
    )
    assert "No such file or directory" not in result.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = chainrule("train", *TINY, "--out", blocker / "run")
    assert_user_error(result, "cannot create the run folder", f"{blocker} is a file")


def test_a_run_that_never_starts_is_not_announced(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,x\n3,nan,y\n5,6,x\n7,8,y\n")
    out = tmp_path / "r"
    result = chainrule("train", "--data", tmp_path / "d.csv", "--epochs", "1", "--out", out)
    assert_user_error(result, "line 3", "column 2")
    assert result.stdout == "" and not out.exists()
    ok = chainrule("train", "--layers", "16", "--epochs", "1", "--no-plots", "--out", out)
    assert ok.returncode == 0, ok.stderr
    first = ok.stdout.splitlines()[0]
    assert first.startswith("training digits: MLP 64-16-10 relu") and first.endswith(f"-> {out}")


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_flags_work_before_and_after_the_command(where, tmp_path):
    missing = tmp_path / "missing.csv"
    args = (
        ["--debug", "train", "--data", missing]
        if where == "before"
        else ["train", "--data", missing, "--debug"]
    )
    result = chainrule(*args)
    assert result.returncode == 1  # --debug: the error is raised, with its traceback
    assert "Traceback" in result.stderr and "unrecognized" not in result.stderr
    version = chainrule("train", "--version")
    assert version.returncode == 0 and version.stdout.startswith("chainrule ")
    plain = chainrule("train", "--data", missing)  # without --debug: the one-line error
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
