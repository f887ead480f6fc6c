"""The studio's document: the current AvatarState, its undo history, the model path.

Widgets never change the state directly: they ask the document, which pushes an undo
command and announces the new state. A slider drag is one undo step (commands with the
same merge key are merged), not hundreds.
"""
from __future__ import annotations

import itertools

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from core.state import AvatarState

_MERGE_IDS: dict[str, int] = {}  # merge key -> undo command id, for the interaction under way
# ids are never reused: a key's next interaction must not merge into its last one
_NEXT_MERGE_ID = itertools.count(1000)


def _merge_id(key: str | None) -> int:
    if key is None:
        return -1
    if key not in _MERGE_IDS:
        _MERGE_IDS[key] = next(_NEXT_MERGE_ID)
    return _MERGE_IDS[key]


class _StateCommand(QUndoCommand):
    def __init__(self, doc: "StudioDocument", old: AvatarState, new: AvatarState, text: str, merge_key: str | None):
        super().__init__(text)
        self.doc, self.old, self.new = doc, old, new
        self._id = _merge_id(merge_key)

    def id(self) -> int:  # noqa: A003 (Qt's name)
        return self._id

    def mergeWith(self, other) -> bool:  # noqa: N802
        if other.id() != self.id() or self._id < 0:
            return False
        self.new = other.new
        return True

    def redo(self):
        self.doc._apply(self.new)

    def undo(self):
        self.doc._apply(self.old)


class StudioDocument(QObject):
    state_changed = Signal(object)  # AvatarState

    def __init__(self, state: AvatarState, parent=None):
        super().__init__(parent)
        self._state = state
        self.undo_stack = QUndoStack(self)
        self.interactive = False  # True while a slider or the mouse is moving

    @property
    def state(self) -> AvatarState:
        return self._state

    def set_state(self, new: AvatarState, text: str = "Change", merge_key: str | None = None):
        if new == self._state:
            return
        self.undo_stack.push(_StateCommand(self, self._state, new, text, merge_key))

    def update(self, text: str, merge_key: str | None = None, **changes):
        self.set_state(self._state.with_(**changes), text, merge_key)

    def reset(self, state: AvatarState):
        """A new document (another model or session): history starts again."""
        self.undo_stack.clear()
        self._apply(state)

    def end_interaction(self):
        """Close the current merge run (the next drag is a new undo step)."""
        global _MERGE_IDS
        _MERGE_IDS = {}
        self.interactive = False

    def _apply(self, state: AvatarState):
        self._state = state
        self.state_changed.emit(state)
