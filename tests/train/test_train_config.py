"""TrainConfig: one schema for the command line, TOML files and sweeps."""

import dataclasses

import numpy as np
import pytest

from chainrule.experiment.config import TrainConfig, read_config, to_toml


def test_defaults_and_dashed_or_underscored_keys():
    cfg = TrainConfig.from_dict({"batch-size": 64, "weight_decay": 1e-4, "layers": "500,300"})
    assert cfg.batch_size == 64 and cfg.weight_decay == 1e-4 and cfg.layers == [500, 300]
    assert TrainConfig().data == "digits" and TrainConfig().layers == [256, 128]
    assert TrainConfig().resolved_lr() == 0.05
    assert TrainConfig.from_dict({"optimizer": "adam"}).resolved_lr() == 1e-3


def test_unknown_key_lists_every_valid_key_in_one_line():
    with pytest.raises(ValueError) as info:
        TrainConfig.from_dict({"lrr": 0.1})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("unknown config key 'lrr' (did you mean lr?); valid keys: ")
    for name in TrainConfig.fields():
        assert name in message


@pytest.mark.parametrize(
    "values, match",
    [
        ({"epochs": "ten"}, "'epochs' must be an integer, got 'ten'"),
        ({"epochs": 2.5}, "must be an integer"),
        ({"lr": True}, "must be a finite number"),
        ({"lr": float("nan")}, "must be a finite number"),
        ({"optimizer": "sgdd"}, "invalid choice 'sgdd'; choose from: sgd, adam, adamw"),
        ({"layers": "a,b"}, "comma-separated list of integers"),
        (
            {"nesterov": "yes"},
            r"'nesterov' must be true or false \(a boolean, without quotes\), got 'yes'",
        ),
        ({"standardize": "false"}, "must be true or false"),
        ({"plots": 1}, "must be true or false"),
        ({"layers": "64,,32"}, "'layers': empty entry in '64,,32'"),
        ({"layers": "64,"}, "empty entry"),
        ({"milestones": ",5"}, "empty entry"),
        ({"lr": -1}, "lr must be > 0"),
        ({"val_split": 1.0}, "val_split must be in"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"decay_style": "lecture", "optimizer": "adam"}, "only defined for --optimizer sgd"),
        ({"nesterov": True, "momentum": 0}, "nesterov needs"),
        ({"schedule": "multistep"}, "needs milestones"),
        ({"early_stopping": 3, "val_split": 0}, "set val_split > 0"),
        ({"init": "normal:abc"}, "bad scale"),
    ],
)
def test_bad_values_raise_one_line(values, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig.from_dict(values)


def test_choices_are_normalized():
    cfg = TrainConfig.from_dict(
        {
            "optimizer": "Adam",
            "loss": "cross_entropy",
            "activation": "leaky-relu",
            "init": "normal:0.05",
        }
    )
    assert (cfg.optimizer, cfg.loss, cfg.activation, cfg.init) == (
        "adam",
        "cross-entropy",
        "leaky_relu",
        "normal:0.05",
    )


def test_every_field_declares_help_group_and_kind():
    from chainrule.experiment.config import GROUPS

    for name, f in TrainConfig.fields().items():
        assert f.metadata["help"] and f.metadata["group"] in GROUPS, name
        assert f.metadata["kind"] in ("bool", "int", "float", "str", "int_list", "float_list")
        if f.metadata["nullable"]:
            assert f.default is None, name  # unset ⇔ omitted from TOML


def test_toml_round_trip_of_every_field(tmp_path):
    cfg = TrainConfig.from_dict(
        {
            "data": 'my "odd" file.csv',
            "data_dir": "/x/y",
            "layers": [500, 300],
            "lr": 0.1,
            "milestones": [5, 10],
            "schedule": "multistep",
            "clip_grad_norm": 2.0,
            "early_stopping": 4,
            "standardize": False,
            "checkpoint_every": 100,
            "seed": 7,
        }
    )
    path = tmp_path / "config.toml"
    path.write_text(to_toml(cfg))
    back = TrainConfig.from_dict(read_config(path))
    assert dataclasses.asdict(back) == dataclasses.asdict(cfg)
    text = to_toml(TrainConfig())
    assert "# clip_grad_norm =   # unset" in text and "layers = [256, 128]" in text


def test_toml_sections_are_flattened_and_bad_toml_is_one_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[model]\nlayers = [8]\n[optimization]\nlr = 0.2\n")
    assert TrainConfig.from_dict(read_config(path)).layers == [8]
    path.write_text("layers = [8\n")
    with pytest.raises(ValueError, match="invalid TOML"):
        read_config(path)


def test_lecture_warning_inits_are_accepted_and_build_what_they_say():
    from chainrule.experiment import TrainConfig, build_model

    for init, expected in (("zeros", 0.0), ("constant:0.3", 0.3)):
        config = TrainConfig.from_dict({"init": init, "layers": [5]})
        assert config.init == init
        model = build_model(config, n_features=4, n_outputs=3)
        first = model.linears[0].weight.numpy()
        assert (first == np.float32(expected)).all()


def test_clashing_options_raise_their_own_error_class():
    from chainrule.experiment.options import OptionCombinationError

    for values in (
        {"nesterov": True, "momentum": 0},
        {"decay_style": "unscaled", "optimizer": "adam"},
        {"early_stopping": 3, "val_split": 0},
    ):
        with pytest.raises(OptionCombinationError):
            TrainConfig.from_dict(values)
    for values in ({"lr": -1}, {"epochs": 0}, {"optimizer": "sgdd"}):
        with pytest.raises(ValueError) as info:
            TrainConfig.from_dict(values)
        assert not isinstance(info.value, OptionCombinationError), values


def test_decay_style_lecture_is_the_old_name_of_unscaled():
    assert TrainConfig.from_dict({"decay_style": "lecture"}).decay_style == "unscaled"


def test_list_spellings():
    for text, expected in (("64,32", [64, 32]), ("64, 32", [64, 32]), ("64 32", [64, 32])):
        assert TrainConfig.from_dict({"layers": text}).layers == expected
    assert TrainConfig.from_dict({"layers": ""}).layers == []  # a linear model
    assert TrainConfig.from_dict({"layers": " "}).layers == []


def test_a_misspelt_table_is_named_with_the_right_one(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[mdoel]\nlayers = [8]\n")
    with pytest.raises(ValueError, match=r"unknown table \[mdoel\] \(did you mean \[model\]\?\)"):
        read_config(path)
    path.write_text("[zzz]\nlr = 0.1\n")
    with pytest.raises(
        ValueError, match=r"c\.toml: unknown table \[zzz\]; the tables are \[data\]"
    ):
        read_config(path)
