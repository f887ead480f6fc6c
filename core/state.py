"""AvatarState: identity + expression + lighting + camera + render settings.

The unit the GUI edits, the undo stack stores, sessions save as JSON, keyframes
interpolate, and the reenactment / fitting pipelines produce.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.camera import DEFAULT_FOV_DEG, DEFAULT_LOOK_AT, DEFAULT_RADIUS, Camera, orbit
from core.expression import Expression
from core.fileio import atomic_write_text
from core.identity import Identity
from core.lighting import SphericalHarmonicsLighting

STATE_FORMAT = "avatar-studio/state"
STATE_VERSION = 1
PASSES = ("rgb", "albedo", "shading", "normal", "depth", "alpha")
QUALITIES = ("preview", "refined", "naive")


@dataclass(frozen=True)
class OrbitPose:
    """Camera as the sliders see it: orbit angles (degrees), distance, fov, look-at."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    radius: float = DEFAULT_RADIUS
    fov: float = DEFAULT_FOV_DEG
    look_at: tuple = DEFAULT_LOOK_AT

    def __post_init__(self):
        for name in ("yaw", "pitch", "roll", "radius", "fov"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"camera {name} must be a finite number, got {v!r}")
        if not -89.0 <= self.pitch <= 89.0:
            raise ValueError(f"camera pitch {self.pitch} outside [-89, 89] degrees")
        if not 0.5 <= self.radius <= 20.0:
            raise ValueError(f"camera radius {self.radius} outside [0.5, 20]")
        if not 1.0 <= self.fov <= 120.0:
            raise ValueError(f"camera fov {self.fov} outside [1, 120] degrees")
        look = tuple(float(v) for v in self.look_at)
        if len(look) != 3:
            raise ValueError("camera look_at needs 3 numbers")
        object.__setattr__(self, "look_at", look)

    def with_(self, **changes) -> "OrbitPose":
        """This pose with some fields changed (checked like a new one)."""
        return replace(self, **changes)

    def to_camera(self) -> Camera:
        return orbit(self.yaw, self.pitch, self.radius, self.fov, self.roll, self.look_at)

    def lerp(self, other: "OrbitPose", t: float) -> "OrbitPose":
        def mix(a, b):
            return (1.0 - t) * a + t * b

        # angles take the short way round
        dyaw = (other.yaw - self.yaw + 180.0) % 360.0 - 180.0
        yaw = (self.yaw + t * dyaw + 180.0) % 360.0 - 180.0
        return OrbitPose(
            yaw, mix(self.pitch, other.pitch), mix(self.roll, other.roll),
            mix(self.radius, other.radius), mix(self.fov, other.fov),
            tuple(mix(a, b) for a, b in zip(self.look_at, other.look_at)),
        )

    def to_json(self) -> dict:
        return {"yaw": self.yaw, "pitch": self.pitch, "roll": self.roll, "radius": self.radius,
                "fov": self.fov, "look_at": list(self.look_at)}


@dataclass(frozen=True)
class RenderSettings:
    resolution: int = 256  # output image side, pixels
    quality: str = "refined"
    render_pass: str = "rgb"
    background: tuple = (1.0, 1.0, 1.0)

    def __post_init__(self):
        if not isinstance(self.resolution, int) or not 16 <= self.resolution <= 2048:
            raise ValueError(f"render resolution {self.resolution!r} must be an integer in [16, 2048]")
        if self.quality not in QUALITIES:
            raise ValueError(f"render quality {self.quality!r} not one of {QUALITIES}")
        if self.render_pass not in PASSES:
            raise ValueError(f"render pass {self.render_pass!r} not one of {PASSES}")
        bg = tuple(float(v) for v in self.background)
        if len(bg) != 3 or not all(0.0 <= v <= 1.0 for v in bg):
            raise ValueError("render background must be 3 numbers in [0, 1]")
        object.__setattr__(self, "background", bg)

    def to_json(self) -> dict:
        return {"resolution": self.resolution, "quality": self.quality, "pass": self.render_pass,
                "background": list(self.background)}


@dataclass(frozen=True)
class AvatarState:
    identity: Identity
    expression: Expression = field(default_factory=Expression)
    lighting: SphericalHarmonicsLighting = field(default_factory=lambda: SphericalHarmonicsLighting.preset("studio"))
    camera: OrbitPose = field(default_factory=OrbitPose)
    render: RenderSettings = field(default_factory=RenderSettings)

    def with_(self, **changes) -> "AvatarState":
        return replace(self, **changes)

    def interpolate(self, other: "AvatarState", t: float) -> "AvatarState":
        """State between self (t=0) and other (t=1); render settings switch at the middle."""
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"interpolation parameter {t} outside [0, 1]")
        if t == 0.0:
            return self
        if t == 1.0:
            return other
        return AvatarState(
            self.identity.lerp(other.identity, t),
            self.expression.lerp(other.expression, t),
            self.lighting.slerp(other.lighting, t),
            self.camera.lerp(other.camera, t),
            self.render if t < 0.5 else other.render,
        )

    # -- JSON ---------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "identity": self.identity.to_json(),
            "expression": {"names": list(self.expression.names), "values": self.expression.to_dict()},
            "lighting": self.lighting.to_json(),
            "camera": self.camera.to_json(),
            "render": self.render.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict) -> "AvatarState":
        """Build from JSON; raises ValueError naming the part that is wrong."""
        if not isinstance(data, dict):
            raise ValueError("state must be a JSON object")
        if data.get("format", STATE_FORMAT) != STATE_FORMAT:
            raise ValueError(f"not an avatar state (format {data.get('format')!r})")
        version = data.get("version", STATE_VERSION)
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(f"state version must be an integer, got {version!r}")
        if version > STATE_VERSION:
            raise ValueError(f"state version {version} is newer than this program ({STATE_VERSION})")
        for part in ("identity", "expression", "lighting", "camera", "render"):
            if part in data and part != "lighting" and not isinstance(data[part], dict):
                raise ValueError(f"{part}: must be a JSON object, got {type(data[part]).__name__}")
        parts = {}
        try:
            parts["identity"] = Identity.from_json(data["identity"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"identity: {_msg(e)}") from None
        try:
            ex = data.get("expression", {})
            values = ex.get("values", {})
            if not isinstance(values, dict):
                raise ValueError(f"values must be an object of name: weight, got {type(values).__name__}")
            names = ex.get("names", list(values))
            parts["expression"] = Expression.from_dict(values, names) if names else Expression()
        except (TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"expression: {_msg(e)}") from None
        try:
            parts["lighting"] = SphericalHarmonicsLighting.from_json(data["lighting"]) if "lighting" in data \
                else SphericalHarmonicsLighting.preset("studio")
        except (TypeError, ValueError) as e:
            raise ValueError(f"lighting: {_msg(e)}") from None
        try:
            parts["camera"] = OrbitPose(**{k: v for k, v in data.get("camera", {}).items()})
        except (TypeError, ValueError) as e:
            raise ValueError(f"camera: {_msg(e)}") from None
        try:
            r = dict(data.get("render", {}))
            if "pass" in r:
                r["render_pass"] = r.pop("pass")
            parts["render"] = RenderSettings(**r)
        except (TypeError, ValueError) as e:
            raise ValueError(f"render: {_msg(e)}") from None
        return cls(**parts)

    def save(self, path) -> None:
        atomic_write_text(Path(path), json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path) -> "AvatarState":
        from core.fileio import read_json

        path = Path(path)
        data = read_json(path)
        try:
            return cls.from_json(data)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    def __eq__(self, other):
        return (isinstance(other, AvatarState) and self.identity == other.identity and self.expression == other.expression
                and self.lighting == other.lighting and self.camera == other.camera and self.render == other.render)

    __hash__ = None


def _msg(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return f"missing {text}" if isinstance(e, KeyError) else text
