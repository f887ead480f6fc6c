"""The studio document's undo history: one step per drag."""
import numpy as np

from app.document import StudioDocument
from core.identity import Identity
from core.state import AvatarState, OrbitPose


def test_two_drags_of_one_control_are_two_undo_steps(qtbot):
    doc = StudioDocument(AvatarState(Identity(np.zeros(4))))
    for drag in ((5.0, 10.0, 15.0), (20.0, 25.0)):
        for yaw in drag:
            doc.update("Camera yaw", merge_key="camera.yaw", camera=OrbitPose(yaw))
        doc.end_interaction()  # the mouse is released
    assert doc.undo_stack.count() == 2
    doc.undo_stack.undo()
    assert doc.state.camera.yaw == 15.0
    doc.undo_stack.undo()
    assert doc.state.camera.yaw == 0.0
