"""File > New avatar from video / from a webcam recording: prepare and the personal
fine-tune run in a child process as one Job, with progress and previews; the new model
is opened at the end; Stop keeps the work and the same video resumes it; a file that is
not a video is one dialog. Tiny step counts (the child process's start-up dominates)."""
import json

import numpy as np
import pytest

from app.video_avatar import GUIDE, RecordDialog, guide_text, work_folder


@pytest.fixture
def library(tmp_path, monkeypatch):
    lib = tmp_path / "data" / "avatars"
    monkeypatch.setenv("AVATAR_STUDIO_AVATARS", str(lib))   # personal/ goes beside it
    return lib


def _astronaut_video(path, frames=6, fps=10):
    """The astronaut photo drifting a few pixels a frame (prepare finds her in each)."""
    import imageio.v2 as imageio
    import skimage.data
    from PIL import Image

    img = np.asarray(Image.fromarray(skimage.data.astronaut()[0:300, 90:390]).resize((320, 320)))
    with imageio.get_writer(str(path), format="FFMPEG", fps=fps, codec="libx264", pixelformat="yuv420p",
                            macro_block_size=2, ffmpeg_log_level="quiet") as w:
        for k in range(frames):
            w.append_data(np.roll(img, k, axis=1))
    return path


def _wait(qtbot, job, timeout=240000):
    qtbot.waitUntil(lambda: job.done.is_set(), timeout=timeout)
    qtbot.wait(50)


def _checkpoint_step(run):
    from safetensors import safe_open

    with safe_open(str(run / "checkpoint.safetensors"), framework="pt") as f:
        return int(f.metadata()["step"])


def test_video_becomes_the_opened_personal_model_and_stop_resumes(studio, qtbot, library, tmp_path):
    video = _astronaut_video(tmp_path / "me.mp4")
    ctl = studio.video_avatar
    ctl.every = 1
    ctl.overrides = ("steps=400", "code_steps=2", "checkpoint_every=100")
    bundled = studio.model_path
    job = ctl.start(video)
    assert job is not None and ctl.dialog is not None
    # stop once training has begun: the child saves before it exits
    qtbot.waitUntil(lambda: ctl._latest.get("stage") == "train" or job.done.is_set(), timeout=240000)
    job.cancel()
    _wait(qtbot, job)
    assert job.error == "cancelled" and not studio.errors, studio.errors
    assert studio.model_path == bundled and ctl.dialog is None
    work = work_folder(video)
    stopped_at = _checkpoint_step(work / "run")
    assert 1 <= stopped_at < 400
    parts = {p.name: p.stat().st_mtime_ns for p in (work / "prepared" / "parts").glob("*.json")}
    assert len(parts) == 6
    # the same video again resumes: prepare redoes nothing, training goes on from its step
    ctl.overrides = ("steps=%d" % (stopped_at + 3), "code_steps=2", "checkpoint_every=100")
    job = ctl.start(video)
    _wait(qtbot, job)
    assert not studio.errors, studio.errors
    assert {p.name: p.stat().st_mtime_ns for p in (work / "prepared" / "parts").glob("*.json")} == parts
    assert job.result["steps"] == stopped_at + 3 and _checkpoint_step(work / "run") == stopped_at + 3
    assert studio.model_path == str(work / "run" / "model.safetensors")
    prov = studio.engine.provenance
    assert prov["train_config"]["tune"] == "personal" and len(prov["light_scale"]) == 3   # the recipe's
    assert json.loads((work / "run" / "personal.json").read_text())["inputs"] == [str(video)]
    assert getattr(ctl, "previews_shown", 0) >= 1   # the prepare crops, the training preview


def test_a_file_that_is_not_a_video_is_one_dialog(studio, library, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert studio.video_avatar.start(notes) is None
    assert len(studio.errors) == 1 and "notes.txt" in studio.errors[0] and "\n" not in studio.errors[0]
    assert not (library.parent / "personal").exists()


def test_recording_writes_the_video_with_the_guide(qtbot, library, tmp_path):
    source = _astronaut_video(tmp_path / "cam.mp4", frames=30, fps=10)   # stands in for the webcam
    out = tmp_path / "rec" / "webcam.mp4"
    dialog = RecordDialog(None, out, spec_for=lambda device: str(source))
    qtbot.addWidget(dialog)
    dialog.seconds.setValue(5)
    dialog.record()
    qtbot.waitUntil(lambda: dialog.job.done.is_set(), timeout=60000)
    qtbot.wait(100)
    assert getattr(dialog, "result_path", None) == out
    import imageio.v2 as imageio

    frames = imageio.mimread(str(out), memtest=False)
    assert 25 <= len(frames) <= 31 and frames[0].shape[:2] == (320, 320)
    assert not out.with_name("webcam.part.mp4").exists()
    assert dialog.guide.text() in [t for _, t in GUIDE]


def test_the_guide_walks_through_every_move():
    texts = [guide_text(f) for f in np.linspace(0, 0.999, 50)]
    assert [t for i, t in enumerate(texts) if i == 0 or t != texts[i - 1]] == [t for _, t in GUIDE]
