"""Every tutorial notebook runs top to bottom in a fresh kernel, and its asserts hold.

A notebook reproduces the lecture's numbers with ``assert`` statements, so a wrong
number is a failing cell, and a failing cell fails this test (nbclient raises
``CellExecutionError``). The stored copies are executed too (for readers without a
kernel); ``test_stored_notebooks_are_executed`` keeps them that way.
"""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

TUTORIALS = Path(__file__).resolve().parents[2] / "docs" / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))


def run(nb, cwd):
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


def test_the_lecture_is_covered():
    names = [p.stem for p in NOTEBOOKS]
    assert names == [
        "01_chain_rule",
        "02_gate_patterns",
        "03_vector_chain_rule",
        "04_mlp_delta_rule",
        "05_softmax_nll_l2",
        "06_optimizers",
        "07_initialization",
        "08_vanishing_gradients",
        "09_hyperparameters",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_its_numbers_hold(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    n_asserts = sum(c.source.count("assert ") for c in nb.cells if c.cell_type == "code")
    assert n_asserts >= 3, f"{path.name} checks too little"
    run(nb, tmp_path)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors


def test_a_wrong_number_fails_the_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import chainrule as cr\n"
            "x = cr.tensor(-2.0, requires_grad=True)\n"
            "f = (x + 5) * -4\nf.backward()\n"
            "assert x.grad.item() == 4.0  # wrong: it is -4"
        )
    ]
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="AssertionError"):
        run(nb, tmp_path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_notebooks_are_executed(path):
    """Readers without a kernel (GitHub, the docs site) see the outputs: every code cell
    ran, in order, without an error (re-run: python docs/tutorials/execute.py)."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert nb.metadata.kernelspec.name == "python3"
