"""The Lighting panel's sliders follow the document through undo and redo."""
import numpy as np
import pytest

from app.document import StudioDocument
from app.panels.lighting import LightingPanel
from core.identity import Identity
from core.state import AvatarState


@pytest.fixture
def panel(qtbot):
    doc = StudioDocument(AvatarState(Identity(np.zeros(4))))
    panel = LightingPanel(doc)
    qtbot.addWidget(panel)
    return panel


def sliders(panel) -> tuple:
    return (panel.azimuth.value(), panel.elevation.value(), panel.intensity.value(), panel.ambient.value())


def drag_light_ball(panel, *directions):
    for azimuth, elevation in directions:
        panel.ball.direction_picked.emit(float(azimuth), float(elevation))
    panel.ball.released.emit()


def test_undo_and_redo_of_light_drags_move_the_sliders(panel):
    doc = panel.doc
    start, start_light = sliders(panel), doc.state.lighting
    drag_light_ball(panel, (0, 30), (20, 40), (45, 50))
    first, first_light = sliders(panel), doc.state.lighting
    assert first[:2] == (45, 50)
    panel.intensity.setValue(1.5)  # a slider drag
    doc.end_interaction()
    drag_light_ball(panel, (-90, 10), (-120, 5))
    second, second_light = sliders(panel), doc.state.lighting
    assert second == (-120, 5, 1.5, start[3])

    doc.undo_stack.undo()
    assert sliders(panel)[:3] == (45, 50, 1.5)
    doc.undo_stack.undo()
    assert doc.state.lighting == first_light and sliders(panel) == first
    doc.undo_stack.undo()
    assert doc.state.lighting == start_light and sliders(panel) == start
    for _ in range(3):
        doc.undo_stack.redo()
    assert doc.state.lighting == second_light and sliders(panel) == second
    # moving a slider after an undo starts from what the sliders show
    doc.undo_stack.undo()
    panel.ambient.setValue(0.5)
    assert sliders(panel)[:3] == (45, 50, 1.5)
