"""Typed settings for dataclass configs: `--set KEY=VALUE` parsed by the field's type
(TrainConfig, and ModelConfig under `model.KEY=VALUE`), and values from JSON checked against
the same types, so a wrong value is one line naming the setting instead of a traceback (or
a silently wrong run) later."""
from __future__ import annotations

import json
import math
import typing
from dataclasses import fields, is_dataclass

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def field_types(cls) -> dict:
    """{field name: type} of a dataclass, with string annotations resolved."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def _kind(tp) -> str:
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a finite number"
    if tp is str:
        return "text"
    if tp in (tuple, list):
        return "a list"
    return tp.__name__


def parse_text(name: str, text: str, tp):
    """The command-line text of a setting as a value of type `tp` (ValueError if it is not one)."""
    if is_dataclass(tp):
        example = next((f.name for f in fields(tp) if f.name == "superres_factor"), fields(tp)[0].name)
        raise ValueError(f"{name}={text}: {name} is a group of settings; set them one by one, "
                         f"e.g. {name}.{example}=...")
    stripped = text.strip()
    if tp is bool:
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
    elif tp is int:
        try:
            return int(stripped)
        except ValueError:
            pass
    elif tp is float:
        try:
            value = float(stripped)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return value
    elif tp is str:
        if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
            try:
                return json.loads(stripped)  # a JSON-quoted string, as in the config file
            except json.JSONDecodeError:
                pass
        return text
    elif tp in (tuple, list):
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError as e:
                raise ValueError(f"{name}={text}: not a JSON list ({e.msg})") from None
            if isinstance(value, list):
                return tuple(value)
        else:
            return tuple(x.strip() for x in stripped.split(",") if x.strip())
    raise ValueError(f"{name}={text}: {name} takes {_kind(tp)}")


def check_value(name: str, value, tp):
    """A value read from JSON (or given in code) as type `tp`: ints for floats become floats,
    lists for tuples become tuples; anything else of the wrong type is a ValueError."""
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
    elif tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif tp is bool and isinstance(value, bool):
        return value
    elif tp is str and isinstance(value, str):
        return value
    elif tp in (tuple, list) and isinstance(value, (list, tuple)):
        return tuple(value)
    elif tp not in (bool, int, float, str, tuple, list) and isinstance(value, tp):
        return value
    raise ValueError(f"{name} takes {_kind(tp)}, got {json.dumps(value) if _jsonable(value) else repr(value)}")


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def apply_overrides(data: dict, overrides, cls, nested: dict) -> dict:
    """`data` (settings of dataclass `cls` read from JSON) with KEY=VALUE overrides applied,
    each parsed by its field's type. `nested` maps a field holding another dataclass to
    that dataclass (e.g. {"model": ModelConfig}); its fields are set as `model.KEY=VALUE`."""
    types = field_types(cls)
    data = dict(data)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        key, text = item.split("=", 1)
        key = key.strip()
        group, _, sub = key.partition(".")
        if sub and group in nested:
            sub_types = field_types(nested[group])
            if sub not in sub_types:
                raise ValueError(f"--set {item}: unknown setting {sub!r} of {group} "
                                 f"(it has: {', '.join(sub_types)})")
            current = data.get(group)
            if current is None:
                current = {}
            elif is_dataclass(current):
                current = current.to_json() if hasattr(current, "to_json") else dict(current.__dict__)
            elif not isinstance(current, dict):
                raise ValueError(f"--set {item}: {group} in the config file is not a JSON object")
            try:
                value = parse_text(key, text, sub_types[sub])
            except ValueError as e:
                raise ValueError(f"--set {e}") from None
            data[group] = {**current, sub: value}
            continue
        if key not in types:
            raise ValueError(f"--set {item}: unknown training setting {key!r} (see training/trainer.py TrainConfig)")
        try:
            data[key] = parse_text(key, text, types[key])
        except ValueError as e:
            raise ValueError(f"--set {e}") from None
    return data
