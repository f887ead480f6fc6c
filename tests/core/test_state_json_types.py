"""A state JSON of the wrong shape is a one-line ValueError naming the part, never another
exception, and never a state that opens and then fails to save."""
import json

import numpy as np
import pytest

from core.fileio import read_json
from core.identity import Identity
from core.state import AvatarState


def good() -> dict:
    return AvatarState(Identity(np.linspace(-1, 1, 8), seed=3, truncation=0.7)).to_json()


def with_(path: str, value) -> dict:
    data = good()
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    return data


@pytest.mark.parametrize("path,value,part", [
    ("camera", [0, 10], "camera"),
    ("render", "big", "render"),
    ("expression", [0.5], "expression"),
    ("expression.values", [0.5], "expression"),
    ("identity", [0.1, 0.2], "identity"),
    ("identity.seed", "7", "identity"),
    ("identity.seed", 1.5, "identity"),
    ("identity.seed", True, "identity"),
    ("identity.truncation", "high", "identity"),
    ("identity.truncation", float("nan"), "identity"),
    ("identity.name", 5, "identity"),
    ("identity.latent", [[1.0], "x"], "identity"),
    ("version", "1", "version"),
    ("version", [1], "version"),
])
def test_wrong_types_are_one_line_value_errors(path, value, part):
    with pytest.raises(ValueError) as e:
        AvatarState.from_json(json.loads(json.dumps(with_(path, value))))
    message = str(e.value)
    assert len(message.splitlines()) == 1 and part in message, message


def test_a_state_that_loads_also_saves(tmp_path):
    state = AvatarState.from_json(good())
    state.save(tmp_path / "again.json")
    assert AvatarState.load(tmp_path / "again.json") == state


def test_deeply_nested_json_is_a_one_line_error_naming_the_file(tmp_path):
    path = tmp_path / "nested.json"
    path.write_text('{"state": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ValueError, match="nested.json"):
        read_json(path)
