"""ASHA pruning: rungs at min_epochs·eta^k; at a rung a trial stops unless it is in the top
1/eta of the values recorded there so far."""

from chainrule.sweep import Pruning, RungPruner


def test_rungs_are_geometric_and_below_the_last_epoch():
    assert Pruning(min_epochs=1, eta=3).rungs(30) == [1, 3, 9, 27]
    assert Pruning(min_epochs=2, eta=2).rungs(16) == [2, 4, 8]
    assert Pruning(min_epochs=1, eta=1.5).rungs(4) == [1, 2, 3]  # 1, 1.5, 2.25, 3.375
    assert Pruning(min_epochs=5, eta=3).rungs(5) == []


def test_keep_only_the_top_fraction_seen_so_far():
    p = RungPruner([1, 3], eta=2, mode="max")
    assert p.report("a", 1, 0.5) is False  # first at the rung: nothing to compare with
    assert p.report("b", 1, 0.4) is True  # worse than the median of {0.5, 0.4}
    assert p.report("c", 1, 0.9) is False
    assert p.report("a", 2, 0.1) is False  # not a rung
    assert p.counts() == {1: 3, 3: 0}


def test_min_mode_and_nan_count_as_worst():
    p = RungPruner([1], eta=3, mode="min")
    assert p.report("a", 1, 0.3) is False
    assert p.report("b", 1, 0.2) is False  # lower loss is better
    assert p.report("c", 1, 0.9) is True
    assert p.report("d", 1, float("nan")) is True
    assert p.report("e", 1, 0.1) is False


def test_eta_three_keeps_about_a_third():
    p = RungPruner([1], eta=3, mode="max")
    values = [0.1 * ((7 * i) % 30) for i in range(30)]  # a shuffled ramp
    kept = [v for i, v in enumerate(values) if not p.report(str(i), 1, v)]
    assert 8 <= len(kept) <= 16  # early arrivals face a lower bar; the rest, the top third


def test_replay_restores_rungs_after_a_resume():
    p = RungPruner([1, 2], eta=2, mode="max")
    p.replay("old", [0.9, 0.95, 0.97])
    assert p.counts() == {1: 1, 2: 1}
    assert p.report("new", 1, 0.5) is True  # measured against the finished trial
