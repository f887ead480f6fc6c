"""Session files: the studio's document (model, state, identity panel) as JSON.

Everything in a session is checked here, before any of it reaches the window, so a bad
file is one dialog with one line and never an exception inside Qt (which aborts the
process) or a state that opens and then fails to save.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from core.fileio import read_json
from core.state import AvatarState

SESSION_FORMAT = "avatar-studio/session"
SESSION_VERSION = 1
SEED_RANGE = (0, 2**31 - 1)  # the identity panel's seed boxes (QSpinBox holds a C int)
# identity panel key -> (kind, low, high), as the panel's widgets accept them
IDENTITY_PANEL = {"seed": (int, *SEED_RANGE), "seed_b": (int, *SEED_RANGE),
                  "truncation": (float, 0.0, 1.0), "mix": (float, 0.0, 1.0)}


@dataclass(frozen=True)
class Session:
    state: AvatarState
    model: str | None = None       # the checkpoint the session was made with
    identity_panel: dict = field(default_factory=dict)  # the keys of IDENTITY_PANEL it sets


def read_session(path) -> Session:
    """Load and check a session file; any problem is a one-line ValueError naming it."""
    path = Path(path)
    data = read_json(path)
    try:
        return session_from_json(data)
    except ValueError as e:
        raise ValueError(f"{path}: {str(e).splitlines()[0]}") from None


def session_from_json(data) -> Session:
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise ValueError("not an Avatar Studio session")
    version = data.get("version", SESSION_VERSION)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"session version must be an integer, got {version!r}")
    if version > SESSION_VERSION:
        raise ValueError(f"session version {version} is newer than this program ({SESSION_VERSION})")
    if "state" not in data:
        raise ValueError("session has no state")
    state = AvatarState.from_json(data["state"])
    model = data.get("model")
    if model is not None and (not isinstance(model, str) or "\0" in model):
        raise ValueError(f"model must be a file path, got {model!r}")
    panel = data.get("identity_panel", {})
    if not isinstance(panel, dict):
        raise ValueError(f"identity_panel must be a JSON object, got {type(panel).__name__}")
    checked = {}
    for key, (kind, low, high) in IDENTITY_PANEL.items():
        if key not in panel:
            continue
        value = panel[key]
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) \
                or not math.isfinite(value) or not low <= value <= high:
            noun = "an integer" if kind is int else "a number"
            raise ValueError(f"identity_panel {key} must be {noun} in [{low:g}, {high:g}], got {value!r}")
        checked[key] = kind(value)
    return Session(state, model or None, checked)
