"""File > New avatar from photo / a photo dropped on the view: the fit runs as a Job,
ends with the avatar shown and saved in the library; a bad photo is one dialog and
nothing written; Stop keeps the best so far. Tiny step counts (seconds)."""
import numpy as np
import pytest

from core.fitting.fit import FitSettings

TINY = FitSettings(steps=3, pti_steps=2, neural_resolution=16, pick_start=False, preview_every=1)


@pytest.fixture
def library(tmp_path, monkeypatch):
    lib = tmp_path / "avatars"
    monkeypatch.setenv("AVATAR_STUDIO_AVATARS", str(lib))
    return lib


@pytest.fixture
def astronaut_png(tmp_path):
    import skimage.data
    from PIL import Image

    path = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    return path


def _wait(qtbot, job, timeout=120000):
    qtbot.waitUntil(lambda: job.done.is_set(), timeout=timeout)
    qtbot.wait(50)  # the queued finished/failed signal


def test_photo_becomes_the_shown_avatar(studio, qtbot, library, astronaut_png):
    from core.avatar import load_avatar

    job = studio.photo_fitter.start(astronaut_png, TINY)
    assert job is not None and studio.photo_fitter.dialog is not None
    _wait(qtbot, job)
    assert not studio.errors, studio.errors
    files = sorted(library.glob("*.safetensors"))
    assert [f.name for f in files] == ["astronaut.safetensors"]
    avatar = load_avatar(files[0])
    assert avatar.provenance["photo_sha256"] and avatar.weight_delta
    assert np.allclose(studio.doc.state.identity.latent, avatar.latent, atol=1e-6)
    assert studio.engine is job.result["engine"]
    assert studio.photo_fitter.dialog is None


def test_photo_without_a_face_is_one_dialog_and_nothing_written(studio, qtbot, library, tmp_path):
    from PIL import Image

    path = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 320, 3), 180, np.uint8)).save(path)
    engine = studio.engine
    job = studio.photo_fitter.start(path, TINY)
    _wait(qtbot, job)
    assert len(studio.errors) == 1 and "no face" in studio.errors[0] and "\n" not in studio.errors[0]
    assert not library.exists() or not any(library.iterdir())
    assert studio.engine is engine


def test_corrupt_file_is_one_dialog(studio, qtbot, library, tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    job = studio.photo_fitter.start(path, TINY)
    _wait(qtbot, job)
    assert len(studio.errors) == 1 and "broken.jpg" in studio.errors[0]
    assert not library.exists() or not any(library.iterdir())


def test_stop_keeps_the_best_so_far(studio, qtbot, library, astronaut_png):
    settings = FitSettings(steps=500, neural_resolution=16, pick_start=False, preview_every=1)
    job = studio.photo_fitter.start(astronaut_png, settings)
    qtbot.waitUntil(lambda: studio.photo_fitter.dialog.bar.value() >= 2, timeout=120000)
    studio.photo_fitter.dialog.stop_button.click()
    _wait(qtbot, job)
    assert not studio.errors
    result = job.result["result"]
    assert result.cancelled and 2 <= result.steps_done < 500
    assert len(list(library.glob("*.safetensors"))) == 1


def test_dropped_photo_starts_a_fit(studio, monkeypatch, astronaut_png):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    started = []
    monkeypatch.setattr(studio.photo_fitter, "start", lambda path, settings=None: started.append(path))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(astronaut_png))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    assert studio.photo_fitter.eventFilter(studio.view, event)
    assert started == [str(astronaut_png)]
    assert studio.view.acceptDrops()
