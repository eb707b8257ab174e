"""argparse's own errors are the CLI's one-line errors too (no usage dump), exit 2."""

import pytest

from chainrule.cli import main


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["traim"], "chainrule: error: argument COMMAND: invalid choice: 'traim'"),
        (["gradcheck", "--eps"], "chainrule gradcheck: error: argument --eps: expected one"),
        (["gradcheck", "--examples", "two"], "argument --examples: invalid int value: 'two'"),
        (["explain", "x*y", "--at"], "chainrule explain: error: argument --at: expected one"),
        (["sweep-report"], "chainrule sweep-report: error: the following arguments are required"),
    ],
)
def test_argparse_errors_are_one_line(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err, err
    assert fragment in err and err.rstrip().endswith("--help')")


def test_unknown_train_options_keep_their_did_you_mean(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--no-such-option"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized argument --no-such-option" in err


def test_help_still_shows_the_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["gradcheck", "--help"])
    assert exc.value.code == 0 and "usage: chainrule gradcheck" in capsys.readouterr().out
