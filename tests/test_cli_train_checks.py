"""`train` refuses, before any work (bad-input campaign, docs/bad-inputs.md): steps < 1 or
batch < 1 (ran "successfully" and wrote a model), a run folder that already holds a run
without --resume (the new run replaced its checkpoint), a config nested too deeply
(traceback); any other OSError of a command (disk full) is one line, exit 2."""
import errno
import json

import pytest

import cli


def _main(capsys, *argv):
    rc = cli.main(list(argv))
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return rc, err


@pytest.mark.parametrize("setting", [{"steps": -5}, {"batch": 0}, {"steps": 0}])
def test_steps_and_batch_below_one_are_refused(tmp_path, capsys, setting):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(setting))
    rc, err = _main(capsys, "train", "--config", str(cfg), "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "run"))
    assert rc == 2 and len(err) == 1 and "must be at least 1" in err[0] and "cfg.json" in err[0]
    assert not (tmp_path / "run").exists()


def test_an_existing_run_is_not_replaced_without_resume(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.safetensors").write_bytes(b"precious")
    rc, err = _main(capsys, "train", "--data", str(tmp_path / "ds"), "--out", str(run))
    assert rc == 2 and len(err) == 1 and "--resume" in err[0]
    assert (run / "checkpoint.safetensors").read_bytes() == b"precious"


def test_a_config_nested_too_deeply_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text("[" * 100000 + "]" * 100000)
    rc, err = _main(capsys, "train", "--config", str(cfg), "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "run"))
    assert rc == 2 and len(err) == 1 and "cfg.json" in err[0]


def test_a_dataset_json_nested_too_deeply_is_a_dataset_error(tmp_path):
    from training.data import DatasetError, HeadDataset

    (tmp_path / "dataset.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(DatasetError, match="nested too deeply"):
        HeadDataset(tmp_path, 16, ())


def test_disk_full_in_a_command_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    class Full:
        @staticmethod
        def run(args):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out.png"))

    monkeypatch.setattr(cli, "_command", lambda name: Full)
    rc, err = _main(capsys, "render", "--seed", "1", "--out", str(tmp_path / "out.png"))
    assert rc == 2 and len(err) == 1 and "out.png: No space left on device" in err[0]


def test_an_oserror_without_a_file_name_names_the_output(tmp_path, capsys, monkeypatch):
    class TooLarge:
        @staticmethod
        def run(args):
            raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(cli, "_command", lambda name: TooLarge)
    rc, err = _main(capsys, "render", "--seed", "1", "--out", str(tmp_path / "out.png"))
    assert rc == 2 and len(err) == 1 and "out.png: File too large" in err[0]
