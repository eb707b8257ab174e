"""Every round trip of docs/interop.md, measured: python examples/interop_roundtrips.py

Trains a small digits run, then checks each way a model leaves or enters chainrule
against an independent reader: safetensors' own loaders, PyTorch, onnxruntime. Prints one
line per round trip with the largest difference seen (docs/interop.md quotes them).
Needs the onnx extra and PyTorch.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.data import load_dataset
from chainrule.experiment import TrainConfig, run_training


def main() -> int:
    import onnxruntime as ort
    import torch
    from safetensors.torch import load_file

    from chainrule.cli import main as cli
    from chainrule.data.prepare import prepare_inputs
    from chainrule.experiment.run_folder import restore_model
    from chainrule.train.loop import predict

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        digits = load_dataset("digits")
        config = TrainConfig.from_dict(
            {
                "layers": [64, 32],
                "epochs": 3,
                "quiet": True,
                "plots": False,
                "out": str(tmp / "run"),
            }
        )
        results = run_training(config, splits=digits)
        rows.append(("digits run: test accuracy", f"{100 * results['test_accuracy']:.2f}%"))
        model, config, data_state, ckpt = restore_model(tmp / "run")
        rows.append(("run checkpoint", Path(ckpt).name))

        # 1. cr.save(model) -> safetensors.torch.load_file -> torch.nn.Sequential (strict)
        cr.save(model, tmp / "m.safetensors")
        # the same network written in PyTorch (the run's default dropout is 0.2)
        twin = torch.nn.Sequential(
            torch.nn.Linear(64, 64),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.2),
            torch.nn.Linear(64, 32),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.2),
            torch.nn.Linear(32, 10),
        ).eval()
        twin.load_state_dict(load_file(tmp / "m.safetensors"))
        x = prepare_inputs(digits.X_test, data_state, np.float32)
        ours = predict(model, x)
        theirs = twin(torch.from_numpy(x)).detach().numpy()
        rows.append(("safetensors -> torch.nn.Sequential, logits", _diff(theirs, ours)))
        back = cr.load(tmp / "m.safetensors")
        same = all(
            a.tobytes() == b.tobytes()
            for a, b in zip(model.state_dict().values(), back.state_dict().values())
        )
        rows.append(("cr.save(model) -> cr.load, weights bitwise equal", str(same)))

        # 2. chainrule export --onnx -> onnxruntime, raw test rows -> probabilities
        with contextlib.redirect_stderr(io.StringIO()):
            assert cli(["export", str(tmp / "run"), "--onnx", str(tmp / "m.onnx")]) == 0
        session = ort.InferenceSession(str(tmp / "m.onnx"), providers=["CPUExecutionProvider"])
        (probs,) = session.run(None, {"input": digits.X_test.astype(np.float64)})
        z = ours - ours.max(axis=1, keepdims=True)
        want = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        rows.append((f"ONNX (float32, {len(x)} raw test rows) vs predict", _diff(probs, want)))
        rows.append(
            (
                "ONNX vs predict: same predicted class",
                str(bool((probs.argmax(1) == want.argmax(1)).all())),
            )
        )

        # 3. every activation, both dtypes, through onnxruntime
        from chainrule.interop.onnx import export

        for dtype in ("float32", "float64"):
            worst = 0.0
            for act in ("relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "gelu_tanh"):
                cr.manual_seed(0)
                m = cr.nn.MLP([5, 16, 3], activation=act, dtype=dtype, dropout=0.2).eval()
                xs = (3 * np.random.default_rng(0).normal(size=(64, 5))).astype(dtype)
                export(m, xs, tmp / "a.onnx", softmax=True)
                s = ort.InferenceSession(str(tmp / "a.onnx"), providers=["CPUExecutionProvider"])
                got = s.run(None, {"input": xs})[0]
                ref = cr.nn.functional.softmax(m(cr.tensor(xs)), dim=-1).data
                worst = max(worst, float(np.abs(got - ref).max()))
            rows.append((f"ONNX, 7 activations, {dtype}: probabilities", f"{worst:.1e}"))

        # 4. torch -> chainrule -> torch, and gradients against torch's (float64)
        torch.manual_seed(0)
        worst, identical = 0.0, True
        for act in (
            torch.nn.ReLU(),
            torch.nn.LeakyReLU(0.1),
            torch.nn.Tanh(),
            torch.nn.Sigmoid(),
            torch.nn.ELU(),
            torch.nn.GELU(),
            torch.nn.GELU("tanh"),
        ):
            net = torch.nn.Sequential(torch.nn.Linear(5, 8), act, torch.nn.Linear(8, 3)).double()
            converted = cr.nn.from_torch(net)
            identical &= all(
                torch.equal(a, b)
                for a, b in zip(
                    net.state_dict().values(), converted.to_torch().state_dict().values()
                )
            )
            xs = np.random.default_rng(1).normal(size=(16, 5))
            y = np.arange(16) % 3
            torch.nn.functional.cross_entropy(
                net(torch.from_numpy(xs)), torch.from_numpy(y)
            ).backward()
            cr.nn.functional.cross_entropy(converted(cr.tensor(xs)), y).backward()
            for p, q in zip(converted.parameters(), net.parameters()):
                g, h = p.grad.data, q.grad.numpy()
                worst = max(worst, float(np.abs(g - h).max() / np.abs(h).max()))
        rows.append(("torch -> chainrule -> torch, weights bitwise equal", str(identical)))
        rows.append(("gradients vs torch, 7 activations, float64 (rel.)", f"{worst:.1e}"))

    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _diff(a, b) -> str:
    return f"max |Δ| = {float(np.abs(np.asarray(a, np.float64) - b).max()):.1e}"


if __name__ == "__main__":
    sys.exit(main())
