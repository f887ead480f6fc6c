"""`train --set KEY=VALUE` is parsed by the setting's type (TrainConfig, and ModelConfig under
model.KEY); a config file's "model" object becomes a ModelConfig; unknown keys and bad
values are one line naming the setting (exit 2 through the CLI)."""
import json

import pytest

from cli import main
from core.model.config import ModelConfig
from training.trainer import TrainConfig


def test_text_values_and_paths_are_strings_not_json():
    # these ended in "Expecting value" when every value starting with t/f/n/./digit was parsed as JSON
    cfg = TrainConfig.from_file(None, ["sampler=naive", "init=./runs/m.safetensors", "lr_schedule=cosine",
                                       "device=cpu", "change_mask=\"union\""])
    assert (cfg.sampler, cfg.init, cfg.lr_schedule, cfg.device, cfg.change_mask) == (
        "naive", "./runs/m.safetensors", "cosine", "cpu", "union")
    cfg = TrainConfig.from_file(None, ["init=5.safetensors", "sampler=band"])
    assert cfg.init == "5.safetensors" and cfg.sampler == "band"


def test_numbers_and_switches_take_their_field_type():
    cfg = TrainConfig.from_file(None, ["steps=12", "lr=1e-3", "weight_rgb=2", "amp=false", "init_partial=true"])
    assert cfg.steps == 12 and type(cfg.steps) is int
    assert cfg.lr == 1e-3 and cfg.weight_rgb == 2.0 and type(cfg.weight_rgb) is float
    assert cfg.amp is False and cfg.init_partial is True


def test_model_settings_are_a_typed_model_config(tmp_path):
    cfg = TrainConfig.from_file(None, ["model.superres_factor=2", "model.expression_blend=true",
                                       "model.expression_names=jawOpen,mouthSmileLeft"])
    assert isinstance(cfg.model, ModelConfig)
    assert cfg.model.superres_factor == 2 and cfg.model.expression_blend is True
    assert cfg.model.expression_names == ("jawOpen", "mouthSmileLeft")
    assert TrainConfig().model == ModelConfig()
    # a config file's model object: the rest of its settings stay, an override changes one
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"steps": 3, "model": {"latent_dim": 16, "superres_factor": 4}}))
    cfg = TrainConfig.from_file(path, ["model.superres_factor=2"])
    assert cfg.model == ModelConfig(latent_dim=16, superres_factor=2) and cfg.steps == 3
    # a dict in code (and a checkpoint's retired keys) is taken as in a file
    assert TrainConfig(model={"latent_dim": 16, "coarse_samples": 48}).model == ModelConfig(latent_dim=16)


@pytest.mark.parametrize("item,named", [
    ('model={"foo":1}', "model"),
    ("model.foo=1", "foo"),
    ("stepz=3", "stepz"),
    ("steps=many", "steps"),
    ("steps=1.5", "steps"),
    ("lr=nan", "lr"),
    ("amp=maybe", "amp"),
    ("sampler=fast", "sampler"),
    ("model.superres_factor=two", "superres_factor"),
    ("model.superres_factor=0", "superres_factor"),
    ("steps", "steps"),
])
def test_bad_overrides_are_one_line_exit_2(tmp_path, capsys, item, named):
    code = main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--set", item])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("avatar-studio train: error:"), err
    assert named in err[0], err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("settings,named", [
    ({"steps": "many"}, "steps"),
    ({"lr": [1]}, "lr"),
    ({"amp": 1}, "amp"),
    ({"model": {"foo": 1}}, "foo"),
    ({"model": [1, 2]}, "model"),
    ({"model": {"superres_factor": "2"}}, "superres_factor"),
])
def test_bad_values_in_a_config_file_name_the_file_and_setting(tmp_path, settings, named):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(settings))
    with pytest.raises(ValueError) as e:
        TrainConfig.from_file(path)
    assert str(path) in str(e.value) and named in str(e.value) and "\n" not in str(e.value)
