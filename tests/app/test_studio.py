"""The studio, driven like a person drives it (offscreen Qt)."""
import json

import numpy as np
import pytest

from studio_helpers import frame_diff, wait_refined


def test_opens_on_the_bundled_model_with_a_head(studio):
    img = studio.view.current_frame()
    assert img.shape == (256, 256, 3)
    assert "default_head" in studio.windowTitle()
    centre = img[96:160, 96:160].astype(float)
    corner = img[:20, :20].astype(float)
    assert np.abs(centre.mean(axis=(0, 1)) - corner.mean(axis=(0, 1))).max() > 30  # a head over the background
    assert set(studio.expression_panel.sliders) == set(studio.engine.cfg.expression_names)


def test_every_kind_of_slider_changes_the_image(studio, qtbot):
    before = wait_refined(qtbot, studio)
    moves = [
        lambda: studio.camera_panel.sliders["yaw"].setValue(35.0),
        lambda: studio.lighting_panel.azimuth.setValue(80.0),
        lambda: studio.identity_panel.seed.setValue(3),
        lambda: studio.expression_panel.sliders["jawOpen"].setValue(1.0),
    ]
    for move in moves:
        move()
        after = wait_refined(qtbot, studio)
        assert frame_diff(after, before) > 0.05
        before = after


def test_lighting_drag_is_deferred_relighting(studio, qtbot):
    wait_refined(qtbot, studio)
    studio.lighting_panel.ball.direction_picked.emit(60.0, 10.0)
    wait_refined(qtbot, studio)
    assert studio.last_frame_info["relit_only"]


def test_undo_restores_the_previous_image(studio, qtbot):
    original = wait_refined(qtbot, studio)
    studio.camera_panel.sliders["pitch"].setValue(25.0)
    changed = wait_refined(qtbot, studio)
    assert frame_diff(changed, original) > 0.05
    studio.doc.undo_stack.undo()
    restored = wait_refined(qtbot, studio)
    np.testing.assert_array_equal(restored, original)
    studio.doc.undo_stack.redo()
    np.testing.assert_array_equal(wait_refined(qtbot, studio), changed)


def test_a_drag_is_one_undo_step(studio, qtbot):
    start = studio.doc.undo_stack.count()
    for v in np.linspace(0, 40, 12):
        studio.camera_panel.sliders["yaw"].setValue(float(v))
    studio.doc.end_interaction()
    assert studio.doc.undo_stack.count() == start + 1


def test_session_saves_and_reopens_identically(studio, qtbot, tmp_path):
    studio.expression_panel.sliders["mouthSmileLeft"].setValue(0.8)
    studio.camera_panel.sliders["yaw"].setValue(-20.0)
    image = wait_refined(qtbot, studio)
    state = studio.doc.state
    path = tmp_path / "session.json"
    assert studio.save_session(path)
    studio.doc.undo_stack.undo()
    wait_refined(qtbot, studio)
    assert studio.open_session(path)
    assert studio.doc.state == state
    np.testing.assert_array_equal(wait_refined(qtbot, studio), image)


def test_bad_files_show_an_error_and_the_studio_keeps_running(studio, qtbot, tmp_path):
    bad_model = tmp_path / "broken.safetensors"
    bad_model.write_bytes(b"not a model")
    assert not studio.open_model(bad_model)
    bad_session = tmp_path / "broken.json"
    bad_session.write_text("{oops")
    assert not studio.open_session(bad_session)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"format": "avatar-studio/session", "state": {"identity": {"latent": [1, 2]}}}))
    assert not studio.open_session(wrong)
    assert len(studio.errors) == 3
    assert "broken.safetensors" in studio.errors[0] and "broken.json" in studio.errors[1]
    assert all("\n" not in e for e in studio.errors)
    # still alive: a change still renders
    studio.camera_panel.sliders["yaw"].setValue(10.0)
    wait_refined(qtbot, studio)


def test_another_model_can_be_opened(studio, qtbot, tiny_checkpoint):
    assert studio.open_model(tiny_checkpoint)
    img = wait_refined(qtbot, studio)
    assert img is not None and "tiny" in studio.windowTitle()
    assert set(studio.expression_panel.sliders) == set(studio.engine.cfg.expression_names)


def test_autosave_writes_a_recovery_session(studio, qtbot):
    from app.main_window import recovery_path
    from app.session import read_session
    from core.lighting import SphericalHarmonicsLighting

    # the recovery file holds what was on screen, and restoring it brings that back
    d = studio.doc
    d.update("test", camera=d.state.camera.with_(yaw=33.0, pitch=-7.0),
             expression=d.state.expression.with_value("jawOpen", 0.6),
             lighting=SphericalHarmonicsLighting.preset("key-left"))
    edited = d.state
    studio.autosave()
    data = json.loads(recovery_path().read_text())
    assert data["format"] == "avatar-studio/session"
    saved = read_session(recovery_path()).state
    assert saved == edited and saved.camera.yaw == 33.0 and saved.expression.to_dict()["jawOpen"] == 0.6
    d.update("elsewhere", camera=d.state.camera.with_(yaw=-20.0))
    assert d.state != edited
    assert studio.open_session(recovery_path())
    assert d.state == edited


def test_gallery_thumbnails_pick_an_identity(studio, qtbot):
    from PySide6.QtWidgets import QDockWidget

    g = studio.gallery
    assert g.thumbnails_done == 0  # nothing rendered while the gallery is hidden
    studio.findChild(QDockWidget, "Gallery").raise_()
    qtbot.waitUntil(lambda: g.thumbnails_done >= g.COUNT, timeout=60000)
    item = g.list.item(3)
    seed = int(item.data(256))
    g.list.itemClicked.emit(item)
    assert studio.identity_panel.seed.value() == seed
    assert studio.doc.state.identity == studio.engine.sample_identity(seed, studio.identity_panel.truncation.value())


def test_sh_coefficients_edit_the_lighting(studio, qtbot):
    before = wait_refined(qtbot, studio)
    box = studio.sh_panel.boxes[3][0]  # L11, red: light from +x in red
    box.setValue(box.value() + 1.5)
    assert studio.doc.state.lighting.coeffs[3, 0] == pytest.approx(box.value())
    after = wait_refined(qtbot, studio)
    assert frame_diff(after, before) > 0.05
    assert studio.last_frame_info["relit_only"]
