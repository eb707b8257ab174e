"""chainrule train --compile / --no-compile give the same run; --show-step prints the
step the options describe, as code that compiles."""

import json

from chainrule.cli import main


def test_show_step_prints_the_models_step(capsys):
    assert main(["train", "--layers", "4,5,3", "--activation", "tanh", "--show-step"]) == 0
    src = capsys.readouterr().out
    compile(src, "<show-step>", "exec")
    for text in [
        "def train_step(x, y, params, state, hyper",
        "fc1_weight = params['layers.0.weight']  # fc1.weight: (4, 64), float32",
        "h_1 = np.tanh(a_1)",
        "fc4_weight",  # 64-4-5-3-10: four layers
        "delta_4[np.arange(32), y] -= 1",
        "δ_3 = ∂L/∂h_3 ⊙ g'(a_3),  g' = 1 − h²",
        "v_fc1_weight *= momentum",
    ]:
        assert text in src, text


def test_compile_and_no_compile_train_the_same_run(tmp_path, capsys):
    common = ["train", "--epochs", "2", "--layers", "16", "--no-plots", "--quiet"]
    results = {}
    for flag in ("--compile", "--no-compile"):
        out = tmp_path / flag.strip("-")
        assert main([*common, flag, "--out", str(out)]) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        results[flag] = {
            k: metrics[k] for k in ("test_loss", "test_accuracy", "train_loss", "val_loss")
        }
    capsys.readouterr()
    assert results["--compile"] == results["--no-compile"]
