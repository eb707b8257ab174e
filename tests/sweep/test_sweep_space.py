"""Search spaces: every distribution stays in its bounds with the right law, grids are the
full product, layer structures have the drawn depth, draws are reproducible per index."""

import math

import numpy as np
import pytest

from chainrule.sweep import space as S
from chainrule.sweep.strategies import GridStrategy, RandomStrategy


def test_loguniform_is_uniform_in_log_space():
    d = S.loguniform(1e-4, 1.0)
    rng = np.random.default_rng(0)
    x = np.array([d.sample(rng) for _ in range(4000)])
    assert x.min() >= 1e-4 and x.max() <= 1.0
    # each decade gets a quarter of the draws (a uniform law would put 90% in the last one)
    counts = np.histogram(np.log10(x), bins=[-4, -3, -2, -1, 0])[0] / len(x)
    np.testing.assert_allclose(counts, 0.25, atol=0.03)


def test_uniform_and_int_ranges_cover_their_bounds_inclusively():
    rng = np.random.default_rng(1)
    u = [S.uniform(0.2, 0.5).sample(rng) for _ in range(2000)]
    assert 0.2 <= min(u) < 0.21 and 0.49 < max(u) <= 0.5
    ints = [S.randint(3, 6).sample(rng) for _ in range(2000)]
    assert set(ints) == {3, 4, 5, 6} and all(type(i) is int for i in ints)
    li = [S.loguniform_int(1, 1000).sample(rng) for _ in range(4000)]
    assert min(li) >= 1 and max(li) <= 1000
    # log-uniform: as many draws in 1..31 as in 32..1000 (roughly half each)
    assert abs(np.mean(np.array(li) < 32) - 0.5) < 0.05


def test_grid_is_the_cartesian_product_in_declaration_order():
    space = S.SearchSpace(
        {
            "lr": S.loguniform(1e-3, 1e-1, num=3),
            "activation": S.choice("relu", "tanh"),
            "epochs": S.randint(1, 2),
        }
    )
    points = space.grid()
    assert len(points) == 3 * 2 * 2
    np.testing.assert_allclose(sorted({p["lr"] for p in points}), [1e-3, 1e-2, 1e-1])
    assert points[0] == {"lr": pytest.approx(1e-3), "activation": "relu", "epochs": 1}
    assert points[1]["epochs"] == 2 and points[2]["activation"] == "tanh"
    assert len({tuple(sorted(p.items())) for p in points}) == 12


def test_grid_of_a_float_range_without_num_is_an_error():
    with pytest.raises(ValueError, match=r"search.lr: grid search needs a finite set"):
        S.SearchSpace({"lr": S.uniform(0.1, 0.2)}).grid()


def test_layer_structure_draws_depth_then_one_width_per_layer():
    space = S.SearchSpace({"layers": S.layers(n_layers=(1, 3), units=S.loguniform_int(32, 512))})
    rng = np.random.default_rng(0)
    depths = []
    for _ in range(300):
        config = space.config(space.sample(rng))
        widths = config["layers"]
        depths.append(len(widths))
        assert all(32 <= w <= 512 and type(w) is int for w in widths)
    assert set(depths) == {1, 2, 3}
    same = S.SearchSpace({"layers": S.layers([2, 3], S.choice(64, 128), same_units=True)})
    for _ in range(50):
        widths = same.config(same.sample(rng))["layers"]
        assert len(widths) in (2, 3) and len(set(widths)) == 1


def test_layer_structure_grid_enumerates_every_depth_and_width():
    space = S.SearchSpace({"layers": S.layers(n_layers=(0, 2), units=S.choice(8, 16))})
    configs = [space.config(p)["layers"] for p in space.grid()]
    assert configs == [[], [8], [16], [8, 8], [8, 16], [16, 8], [16, 16]]


def test_random_points_depend_only_on_seed_and_index():
    space = S.SearchSpace({"lr": S.loguniform(1e-4, 1), "layers": S.layers((1, 3), (8, 64))})
    a, b = RandomStrategy(space, seed=7), RandomStrategy(space, seed=7)
    forward = [a.ask(i) for i in range(6)]
    backward = [b.ask(i) for i in reversed(range(6))][::-1]
    assert forward == backward
    assert RandomStrategy(space, seed=8).ask(0) != forward[0]
    assert len({p["lr"] for p in forward}) == 6
    assert GridStrategy(S.SearchSpace({"x": S.choice(1, 2)})).ask(1) == {"x": 2}


def test_optuna_replay_round_trips_a_point():
    optuna = pytest.importorskip("optuna")
    space = S.SearchSpace(
        {
            "lr": S.loguniform(1e-4, 1),
            "layers": S.layers((1, 3), S.loguniform_int(8, 64)),
            "sizes": S.choice([16], [32, 16]),
        }
    )
    point = space.sample(np.random.default_rng(3))
    params, dists = space.optuna_params(point)
    trial = optuna.trial.create_trial(params=params, distributions=dists, value=0.5)
    assert trial.params == params  # accepted: every value lies in its distribution
    assert params["sizes"] in (0, 1) and set(params) >= {"lr", "layers.n_layers"}
    n = point["layers.n_layers"]
    assert sum(k.startswith("layers.units[") for k in params) == n
    assert math.isclose(space.config(point)["lr"], params["lr"])
