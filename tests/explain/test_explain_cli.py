"""``python -m chainrule explain`` run for real, in a subprocess."""

import os
import shutil
import subprocess
import sys

import pytest


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "chainrule", "explain", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
    )


def test_the_issue_example():
    r = run("(x+y)*z", "--at", "x=-2,y=5,z=-4")
    assert r.returncode == 0, r.stderr
    assert "f = q1 · z = 3 · (−4) = −12" in r.stdout
    assert "∂f/∂q1 = z = −4" in r.stdout
    assert "add distributes" in r.stdout and "mul switches" in r.stdout
    table = r.stdout.split("Gradients of f")[1]
    assert [line.split()[-1] for line in table.strip().splitlines()[2:]] == ["−4", "−4", "3"]


def test_repeated_at_no_forward_and_ascii():
    r = run("x*y + x", "--at", "x=3", "--at", "y=-4", "--no-forward", "--ascii")
    assert r.returncode == 0, r.stderr
    r.stdout.encode("ascii")
    assert "Forward pass" not in r.stdout and "branches add" in r.stdout
    assert "df/dx = 1 + (-4) = -3" in r.stdout


def test_vectors_and_matrices():
    r = run("sum(dot(W, x)**2)", "--at", "W=[[0.1,0.5],[-0.3,0.8]],x=[[0.2],[0.4]]")
    assert r.returncode == 0, r.stderr
    assert "[[0.088, 0.176], [0.104, 0.208]]" in r.stdout
    assert "[[−0.112], [0.636]]" in r.stdout


@pytest.mark.parametrize(
    "name, needle",
    [
        ("add-mul", "∂f/∂q = z = −4"),
        ("sigmoid-neuron", "(1 − σ)σ = (1 − 0.7311)·0.7311 = 0.1966"),
        ("max-gate", "max routes"),
        ("branches", "branches add"),
        ("norm-Wx", "∇W f = 2q·xᵀ"),
        ("mlp", "✓ agree"),
    ],
)
def test_examples(name, needle):
    r = run("--example", name)
    assert r.returncode == 0, r.stderr
    assert needle in r.stdout


def test_list():
    r = run("--list")
    assert r.returncode == 0
    for name in ("add-mul", "sigmoid-neuron", "max-gate", "branches", "norm-Wx", "mlp"):
        assert name in r.stdout


def test_files(tmp_path):
    dot, html = tmp_path / "g.dot", tmp_path / "g.html"
    r = run(
        "--example", "add-mul", "-q", "--dot", str(dot), "--html", str(html), "--layout", "builtin"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert dot.read_text(encoding="utf-8").startswith("digraph chainrule {")
    assert 'id="narration"' in html.read_text(encoding="utf-8")
    assert f"wrote {dot}" in r.stderr and f"wrote {html}" in r.stderr


def test_dot_to_stdout():
    r = run("x*y", "--at", "x=1,y=2", "--dot", "-")
    assert r.returncode == 0 and r.stdout.startswith("digraph chainrule {")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_svg_and_png(tmp_path):
    svg, png = tmp_path / "g.svg", tmp_path / "g.png"
    r = run("--example", "max-gate", "-q", "--svg", str(svg), "--png", str(png))
    assert r.returncode == 0, r.stderr
    assert "<svg" in svg.read_text(encoding="utf-8")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_missing_graphviz_is_one_line(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no 'dot' on this PATH
    html = tmp_path / "page.html"
    r = run(
        "x*y",
        "--at",
        "x=1,y=2",
        "-q",
        "--html",
        str(html),
        "--svg",
        str(tmp_path / "g.svg"),
        env=env,
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "chainrule explain: error: Graphviz 'dot' not found; install graphviz "
        "(apt-get install graphviz) or use --dot"
    )
    assert "Traceback" not in r.stderr
    assert html.exists()  # the page needs no Graphviz


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["(x+*y)", "--at", "x=1,y=2"],
            "(x+*y)\n   ^ expected a number, a variable, a function call or '(' here, found '*'\n",
        ),
        (["foo(x)", "--at", "x=1"], "foo(x)\n^ unknown function 'foo'; known functions: "),
        (["x^2", "--at", "x=1"], "x^2\n ^ unexpected character '^'; use ** for powers\n"),
        (["(x+y)*z", "--at", "x=1,y=2"], "no value for variable 'z'"),
        (
            ["x+y", "--at", "x=1,y=2,w=3"],
            "unknown variable 'w' in the values: the expression's variables are x, y",
        ),
        (["x+y", "--at", "x=1,y"], "x=1,y\n     ^ expected '=' after 'y'"),
        (["--example", "nope"], "unknown example 'nope'; known examples: add-mul"),
        ([], "give an expression"),
        (["x", "--at", "x=1", "--precision", "0"], "--precision must be between 1 and 17"),
    ],
)
def test_user_errors_exit_2_without_traceback(args, expected):
    r = run(*args)
    assert r.returncode == 2, r.stdout
    assert "Traceback" not in r.stderr
    assert expected in r.stderr


def test_domain_errors_warn_but_succeed():
    r = run("log(x) + 1/y", "--at", "x=-1,y=0")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "RuntimeWarning" not in r.stderr
    assert "⚠" in r.stdout and "nan" in r.stdout and "∞" in r.stdout
