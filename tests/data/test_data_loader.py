"""DataLoader: batching, reproducible shuffles and exact mid-epoch resume."""

import json

import numpy as np
import pytest

from chainrule.data import ArrayDataset, DataLoader


def make_dataset(n=10, d=3):
    X = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64)
    return ArrayDataset(X, y)


class ListDataset:
    """A plain map-style dataset (no fast path): examples built one at a time."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(2, i, dtype=np.float32), i


def epoch_labels(loader):
    return [yb.tolist() for _, yb in loader]


def test_batches_cover_dataset_in_order_without_shuffle():
    loader = DataLoader(make_dataset(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3
    assert [len(yb) for _, yb in batches] == [4, 4, 2]
    assert np.concatenate([yb for _, yb in batches]).tolist() == list(range(10))
    xb, yb = batches[1]
    assert xb.shape == (4, 3) and xb.dtype == np.float32
    np.testing.assert_array_equal(xb[:, 0], yb * 3)  # rows stay paired with their labels


def test_drop_last_skips_the_partial_batch():
    loader = DataLoader(make_dataset(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [len(yb) for _, yb in loader] == [4, 4]
    assert len(DataLoader(make_dataset(8), batch_size=4, drop_last=True)) == 2


def test_batches_are_copies_not_views():
    ds = make_dataset(6)
    xb, _ = next(iter(DataLoader(ds, batch_size=3)))
    xb[:] = -1
    assert ds.X.min() == 0


def test_shuffle_is_a_permutation_reproducible_from_a_seed_and_new_each_epoch():
    a = DataLoader(make_dataset(20), batch_size=6, shuffle=True, rng=7)
    b = DataLoader(make_dataset(20), batch_size=6, shuffle=True, rng=7)
    first, second = epoch_labels(a), epoch_labels(a)
    assert sorted(np.concatenate(first).tolist()) == list(range(20))
    assert first != second
    assert [first, second] == [epoch_labels(b), epoch_labels(b)]
    c = DataLoader(make_dataset(20), batch_size=6, shuffle=True, rng=8)
    assert epoch_labels(c) != first


def test_generator_argument_is_used_in_place():
    gen = np.random.default_rng(3)
    loader = DataLoader(make_dataset(20), batch_size=5, shuffle=True, rng=gen)
    before = gen.bit_generator.state
    list(loader)
    assert gen.bit_generator.state != before
    expected = np.random.default_rng(3).permutation(20)
    labels = epoch_labels(DataLoader(make_dataset(20), 5, True, rng=3))
    assert np.concatenate(labels).tolist() == expected.tolist()


def test_plain_dataset_is_stacked_example_by_example():
    loader = DataLoader(ListDataset(5), batch_size=2, shuffle=True, rng=0)
    batches = list(loader)
    assert [xb.shape for xb, _ in batches] == [(2, 2), (2, 2), (1, 2)]
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], yb)
    assert sorted(np.concatenate([yb for _, yb in batches]).tolist()) == list(range(5))


def test_subclass_with_its_own_getitem_is_not_bypassed():
    class Doubled(ArrayDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return 2 * x, y

    xb, yb = next(iter(DataLoader(Doubled(np.ones((4, 2)), np.arange(4)), batch_size=4)))
    np.testing.assert_array_equal(xb, 2 * np.ones((4, 2)))
    assert yb.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_batch_size_must_be_positive_int(bad):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(make_dataset(), batch_size=bad)


def test_rng_must_be_seed_or_generator():
    with pytest.raises(ValueError, match="rng"):
        DataLoader(make_dataset(), rng="seed")


def run(loader, n_epochs):
    return [epoch_labels(loader) for _ in range(n_epochs)]


@pytest.mark.parametrize("stop_after", [0, 1, 3, 4])  # 4 = after the epoch's last batch
@pytest.mark.parametrize("drop_last", [False, True])
def test_resume_mid_epoch_matches_an_uninterrupted_run(stop_after, drop_last):
    """Interrupt epoch 1 after some batches, checkpoint through JSON, restore into a fresh
    loader, finish: the batches seen must be exactly those of a run never interrupted."""
    settings = dict(batch_size=3, shuffle=True, drop_last=drop_last)
    reference = run(DataLoader(make_dataset(13), rng=42, **settings), 4)
    n_batches = len(reference[0])
    stop_after = min(stop_after, n_batches)

    first = DataLoader(make_dataset(13), rng=42, **settings)
    seen = [epoch_labels(first)]  # epoch 0 completes
    it = iter(first)
    seen.append([next(it)[1].tolist() for _ in range(stop_after)])
    saved = json.loads(json.dumps(first.state_dict()))  # must survive JSON
    assert saved["epoch"] == 1 and saved["batches_yielded"] == stop_after
    del first, it  # the process dies

    resumed = DataLoader(make_dataset(13), rng=999, **settings)  # seed is irrelevant now
    resumed.load_state_dict(saved)
    assert resumed.epoch == 1
    seen[1] += epoch_labels(resumed)  # the rest of epoch 1
    seen += run(resumed, 2)
    assert seen == reference
    assert resumed.epoch == 4


def test_state_dict_between_epochs_and_right_after_restore():
    loader = DataLoader(make_dataset(10), batch_size=4, shuffle=True, rng=1)
    list(loader)
    between = loader.state_dict()
    assert between["batches_yielded"] == 0 and between["epoch"] == 1
    expected_next = epoch_labels(loader)

    restored = DataLoader(make_dataset(10), batch_size=4, shuffle=True, rng=0)
    restored.load_state_dict(between)
    assert epoch_labels(restored) == expected_next

    # saving again before iterating must keep the pending resume point
    loader2 = DataLoader(make_dataset(10), batch_size=4, shuffle=True, rng=1)
    it = iter(loader2)
    next(it)
    mid = loader2.state_dict()
    again = DataLoader(make_dataset(10), batch_size=4, shuffle=True, rng=0)
    again.load_state_dict(mid)
    assert again.state_dict() == mid


def test_resume_without_shuffle_skips_yielded_batches():
    loader = DataLoader(make_dataset(10), batch_size=4)
    it = iter(loader)
    next(it)
    restored = DataLoader(make_dataset(10), batch_size=4)
    restored.load_state_dict(loader.state_dict())
    assert epoch_labels(restored) == [[4, 5, 6, 7], [8, 9]]


def test_resume_with_another_bit_generator_kind():
    """An MT19937 state (arrays inside) round-trips through JSON too."""
    gen = np.random.Generator(np.random.MT19937(5))
    loader = DataLoader(make_dataset(12), batch_size=5, shuffle=True, rng=gen)
    it = iter(loader)
    next(it)
    saved = json.loads(json.dumps(loader.state_dict()))
    rest = [yb.tolist() for _, yb in it]
    following = epoch_labels(loader)
    restored = DataLoader(make_dataset(12), batch_size=5, shuffle=True, rng=0)
    restored.load_state_dict(saved)
    assert epoch_labels(restored) == rest
    assert epoch_labels(restored) == following


def test_new_iter_starts_a_new_epoch_and_stale_iterators_do_not_touch_the_state():
    loader = DataLoader(make_dataset(10), batch_size=4, shuffle=True, rng=2)
    old = iter(loader)
    next(old)
    new = iter(loader)
    next(new)
    next(old)  # an abandoned iterator advancing must not move the checkpoint
    assert loader.state_dict()["batches_yielded"] == 1


@pytest.mark.parametrize(
    "change", [dict(batch_size=5), dict(shuffle=False), dict(drop_last=True), dict(n=11)]
)
def test_load_state_dict_refuses_a_different_setup(change):
    base = dict(n=10, batch_size=4, shuffle=True, drop_last=False)
    saved = DataLoader(
        make_dataset(base["n"]), base["batch_size"], base["shuffle"], base["drop_last"]
    ).state_dict()
    other = {**base, **change}
    loader = DataLoader(
        make_dataset(other["n"]), other["batch_size"], other["shuffle"], other["drop_last"]
    )
    with pytest.raises(ValueError, match="saved with"):
        loader.load_state_dict(saved)
