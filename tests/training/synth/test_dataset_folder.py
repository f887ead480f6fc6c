"""`avatar-studio synth --out DIR` never overwrites what it did not write and never mixes
two generator settings in one folder."""
import json

from cli import main


def synth(out, *extra, identities="2"):
    return main(["synth", "--identities", identities, "--views-per-identity", "1", "--res", "16", "--seed", "7",
                 "--out", str(out), *extra])


def refused(capsys, out) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("avatar-studio synth: error:") and str(out) in err[0], err
    return err[0]


def test_a_foreign_or_corrupt_dataset_json_is_left_alone(tmp_path, capsys):
    for name, text in (("eg3d", json.dumps({"labels": [["img00000000.png", [0.0] * 25]]})),
                       ("corrupt", "{oops"), ("list", "[1, 2]")):
        out = tmp_path / name
        out.mkdir()
        (out / "dataset.json").write_text(text)
        assert synth(out) == 2
        refused(capsys, out)
        assert (out / "dataset.json").read_text() == text
        assert sorted(p.name for p in out.iterdir()) == ["dataset.json"]


def test_an_interrupted_run_resumes_only_with_its_own_settings(tmp_path, capsys):
    out = tmp_path / "set"
    assert synth(out, "--shard", "0/2") == 0  # identity 0 written, identity 1 not yet: no dataset.json
    part = (out / "parts" / "00000.json").read_text()
    capsys.readouterr()
    assert synth(out, "--shard", "1/2", "--background", "plain") == 2
    assert "other settings" in refused(capsys, out)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["00000_00.png"]
    assert synth(out, "--shard", "1/2") == 0  # the same settings finish it
    assert (out / "parts" / "00000.json").read_text() == part
    assert len(json.loads((out / "dataset.json").read_text())["labels"]) == 2


def test_a_dataset_from_before_expression_variants_still_resumes(tmp_path, capsys):
    out = tmp_path / "old"
    assert synth(out, identities="1") == 0
    meta = json.loads((out / "dataset.json").read_text())
    del meta["generator"]["expression_variants"]  # written before the setting existed
    (out / "dataset.json").write_text(json.dumps(meta))
    (out / "parts" / "generator.json").unlink(missing_ok=True)  # nor did the run record its settings
    assert synth(out, identities="1") == 0, capsys.readouterr().err
    assert json.loads((out / "dataset.json").read_text())["generator"]["expression_variants"] == 1
    capsys.readouterr()
    assert synth(out, "--expressions", "neutral", identities="1") == 2
    assert "other settings" in refused(capsys, out)
