"""Flags that would give silently wrong numbers or a traceback end in one line naming the
flag, exit code 2, before any work (the model named here does not exist, so an error about
the flag shows it was checked first)."""
import pytest

from cli import main


@pytest.fixture
def places(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder.ply").mkdir()
    (tmp_path / "file.txt").write_text("keep me")
    return tmp_path


CASES = [
    (["export-mesh", "--level", "nan", "--out", "{tmp}/head.ply"], "--level"),
    (["export-mesh", "--level", "-1", "--out", "{tmp}/head.ply"], "--level"),
    (["export-video", "--fps", "1e-9", "--out", "{tmp}/orbit.mp4"], "--fps"),
    (["export-video", "--fps", "inf", "--out", "{tmp}/orbit.mp4"], "--fps"),
    (["eval", "--data", "{tmp}/folder", "--neural-resolution", "0"], "--neural-resolution"),
    (["eval", "--data", "{tmp}/folder", "--max-samples", "-1"], "--max-samples"),
    (["bench", "--resolutions", "0"], "--resolutions"),
    (["bench", "--resolutions", "32,x"], "--resolutions"),
    (["render", "--seed", "1", "--truncation", "1e6", "--out", "{tmp}/head.png"], "--truncation"),
    (["render", "--seed", "1", "--truncation", "nan", "--out", "{tmp}/head.png"], "--truncation"),
    (["render", "--out", "{tmp}/folder"], "--out"),
    (["render", "--passes", "{tmp}/file.txt"], "--passes"),
    (["render", "--out", "{tmp}/file.txt/head.png"], "--out"),
    (["export-mesh", "--out", "{tmp}/folder.ply"], "--out"),
    (["export-video", "--out", "{tmp}/folder"], "--out"),
    (["eval", "--data", "{tmp}/folder", "--json", "{tmp}/folder"], "--json"),
    (["bench", "--json", "{tmp}/folder"], "--json"),
    (["synth", "--identities", "1", "--views-per-identity", "1", "--out", "{tmp}/file.txt"], "--out"),
    (["train", "--data", "{tmp}/folder", "--out", "{tmp}/file.txt"], "--out"),
]


NO_MODEL = ("synth", "train")  # synth draws with the engine; train builds its model from the config


@pytest.mark.parametrize("args,flag", CASES, ids=[" ".join(a).replace("{tmp}/", "") for a, _ in CASES])
def test_bad_flag_is_one_line_naming_it(places, capsys, args, flag):
    command, rest = args[0], [a.replace("{tmp}", str(places)) for a in args[1:]]
    before = sorted(p.name for p in places.rglob("*"))
    model = [] if command in NO_MODEL else ["--model", str(places / "missing.safetensors")]
    code = main([command, *model, *rest])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"avatar-studio {command}: error:") and flag in err[0], err
    assert sorted(p.name for p in places.rglob("*")) == before
    assert (places / "file.txt").read_text() == "keep me"


def test_good_numbers_still_parse():
    from cli import build_parser

    args = build_parser().parse_args(["bench", "--resolutions", "32, 64,128"])
    assert args.resolutions == "32,64,128"
    args = build_parser().parse_args(["export-video", "--fps", "23.976", "--out", "x.mp4", "--truncation", "0.5"])
    assert args.fps == 23.976 and args.truncation == 0.5


@pytest.mark.parametrize("command", ["synth --identities 1 --views-per-identity 1", "train --data d"])
def test_commands_without_a_model_refuse_model_flag(tmp_path, capsys, command):
    """--model was accepted by synth and train and silently ignored: now it is refused."""
    code = main([*command.split(), "--out", str(tmp_path / "o"), "--model", "m.safetensors"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--model" in err[0], err
    assert not (tmp_path / "o").exists()


def test_train_device_flag_reaches_the_config(tmp_path, monkeypatch, capsys):
    """train --device overrides the config's device (it used to be accepted and ignored)."""
    import training.trainer as trainer_module

    seen = []

    class Stop(Exception):
        pass

    class FakeTrainer:
        def __init__(self, cfg, data, out, resume=False):
            seen.append(cfg)
            raise Stop

    monkeypatch.setattr(trainer_module, "Trainer", FakeTrainer)
    config = tmp_path / "c.json"
    config.write_text('{"device": "cuda", "steps": 3}')
    for extra, want in (([], "cuda"), (["--device", "cpu"], "cpu")):
        with pytest.raises(Stop):
            main(["train", "--config", str(config), "--data", str(tmp_path), "--out", str(tmp_path / "run"), *extra])
        assert seen[-1].device == want and seen[-1].steps == 3
