"""`avatar-studio fit` end to end (two steps on the bundled model) and `render --avatar`
with the file; bad photos are one line, exit 2, nothing written."""
import numpy as np
import pytest

from cli import main


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory):
    import skimage.data
    from PIL import Image

    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    return path


def test_fit_then_render_the_avatar(astronaut_png, tmp_path, capsys):
    from core.avatar import load_avatar
    from core.fitting.align import load_photo

    out = tmp_path / "me.safetensors"
    # 4 tuning steps: the fit keeps its best step, and a single tuning step is kept only
    # when its loss happens to beat the code's (it stopped doing so when the mask changed)
    code = main(["fit", str(astronaut_png), "--out", str(out), "--preset", "fast", "--steps", "2", "--pti",
                 "--pti-steps", "4", "--preview", str(tmp_path / "preview"), "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    avatar = load_avatar(out)
    import hashlib

    assert avatar.provenance["photo_sha256"] == hashlib.sha256(astronaut_png.read_bytes()).hexdigest()
    assert avatar.provenance["steps"] == 2 and avatar.provenance["pti_steps"] == 4 and avatar.weight_delta
    assert (tmp_path / "preview" / "final.png").exists()
    assert "wrote" in capsys.readouterr().out
    img = tmp_path / "avatar.png"
    assert main(["render", "--avatar", str(out), "--res", "64", "--quality", "preview", "--out", str(img),
                 "--device", "cpu"]) == 0
    seeded = tmp_path / "seeded.png"
    assert main(["render", "--seed", "5", "--res", "64", "--quality", "preview", "--out", str(seeded),
                 "--device", "cpu"]) == 0
    assert np.abs(load_photo(img) - load_photo(seeded)).mean() > 0.01


def _fails(capsys, argv, *words):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


def test_bad_photos_are_one_line_and_write_nothing(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "lib" / "x.safetensors"
    wall = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 260, 3), 200, np.uint8)).save(wall)
    _fails(capsys, ["fit", str(wall), "--out", str(out), "--steps", "1"], "wall.png", "no face")
    corrupt = tmp_path / "c.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff garbage")
    _fails(capsys, ["fit", str(corrupt), "--out", str(out)], "c.jpg", "not a readable image")
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    _fails(capsys, ["fit", str(text), "--out", str(out)], "notes.txt", "unsupported")
    _fails(capsys, ["fit", str(tmp_path / "missing.png"), "--out", str(out)], "missing.png")
    _fails(capsys, ["fit", str(wall), "--out", str(tmp_path / "x.png")], "--out", ".safetensors")
    _fails(capsys, ["fit", str(wall), "--out", str(out), "--steps", "0"], "--steps")
    _fails(capsys, ["fit", str(wall), "--out", str(out), "--no-pti", "--pti-steps", "3"], "--pti-steps")
    assert not out.parent.exists()


def test_render_with_a_bad_avatar_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"nope")
    _fails(capsys, ["render", "--avatar", str(bad), "--out", str(tmp_path / "o.png"), "--device", "cpu"], "bad.safetensors")
    assert not (tmp_path / "o.png").exists()
