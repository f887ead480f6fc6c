"""Video export: camera orbits, lighting sweeps, expression sweeps, identity blends and
keyframed timelines of AvatarStates, written as H.264/yuv420p MP4 or GIF with imageio.

Timelines: {"keyframes": [{"time": seconds, "state": <AvatarState JSON>}, ...]}. Camera
angles, distance and fov follow Catmull-Rom splines through the keyframes (smooth, and
they pass through every keyframe); identity, expression and lighting blend linearly
between neighbouring keyframes with an ease-in-out.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from core.expression import Expression
from core.lighting import rotation_matrix
from core.state import AvatarState, OrbitPose

PATHS = ("orbit", "light", "expression", "identity")


def orbit_states(base: AvatarState, frames: int, yaw_range: float = 40.0, pitch_range: float = 8.0):
    for i in range(frames):
        t = i / frames
        yield base.with_(camera=base.camera.with_(yaw=base.camera.yaw + yaw_range * math.sin(2 * math.pi * t),
                                                  pitch=base.camera.pitch + pitch_range * math.sin(4 * math.pi * t)))


def light_states(base: AvatarState, frames: int):
    """The key light goes once around the head (the lighting is rotated about world y)."""
    for i in range(frames):
        yield base.with_(lighting=base.lighting.rotated(rotation_matrix(yaw_deg=360.0 * i / frames)))


def expression_states(base: AvatarState, frames: int, names=None):
    """Each expression in turn rises to 1 and falls back."""
    names = tuple(names or base.expression.names)
    per = max(1, frames // len(names))
    for i in range(frames):
        k = min(i // per, len(names) - 1)
        t = (i % per) / per
        w = math.sin(math.pi * t) ** 2
        yield base.with_(expression=Expression.neutral(base.expression.names).with_value(names[k], w))


def identity_states(a: AvatarState, b_identity, frames: int):
    for i in range(frames):
        t = 0.5 - 0.5 * math.cos(2 * math.pi * i / frames)  # A -> B -> A, loops cleanly
        yield a.with_(identity=a.identity.lerp(b_identity, t))


def path_states(kind: str, base: AvatarState, frames: int, identity_b=None, timeline=None):
    """The states of a named video path (orbit, light, expression, identity, timeline)."""
    if kind == "orbit":
        return orbit_states(base, frames)
    if kind == "light":
        return light_states(base, frames)
    if kind == "expression":
        return expression_states(base, frames)
    if kind == "identity":
        if identity_b is None:
            raise ValueError("the identity path needs a second identity")
        return identity_states(base, identity_b, frames)
    if kind == "timeline":
        if not timeline or len(timeline) < 2:
            raise ValueError("the timeline needs at least two keyframes")
        return timeline_states(timeline, frames)
    raise ValueError(f"unknown video path {kind!r}; use {', '.join(PATHS)} or a timeline")


def _catmull_rom(p0, p1, p2, p3, t):
    return 0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3)


def load_timeline(path) -> list[tuple[float, AvatarState]]:
    from core.fileio import read_json

    path = Path(path)
    data = read_json(path)
    keys = data.get("keyframes") if isinstance(data, dict) else None
    if not keys or len(keys) < 2:
        raise ValueError(f"{path}: a timeline needs at least two keyframes")
    out = []
    for i, k in enumerate(keys):
        try:
            time = float(k["time"])
            if not math.isfinite(time):
                raise ValueError(f"time must be a finite number, got {k['time']!r}")
            out.append((time, AvatarState.from_json(k["state"])))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: keyframe {i}: {str(e).splitlines()[0]}") from None
    times = [t for t, _ in out]
    if any(b <= a for a, b in zip(times, times[1:])):
        raise ValueError(f"{path}: keyframe times must increase")
    return out


def timeline_state(keys: list[tuple[float, AvatarState]], time: float) -> AvatarState:
    times = np.array([t for t, _ in keys])
    time = float(np.clip(time, times[0], times[-1]))
    i = int(np.clip(np.searchsorted(times, time, side="right") - 1, 0, len(keys) - 2))
    t = (time - times[i]) / (times[i + 1] - times[i])
    ease = t * t * (3 - 2 * t)
    a, b = keys[i][1], keys[i + 1][1]
    mixed = a.interpolate(b, ease) if 0 < ease < 1 else (a if ease == 0 else b)
    cams = [k[1].camera for k in keys]
    c = [cams[max(i - 1, 0)], cams[i], cams[i + 1], cams[min(i + 2, len(cams) - 1)]]

    def spline(attr):
        return float(_catmull_rom(*(getattr(x, attr) for x in c), t))

    cam = OrbitPose(spline("yaw"), float(np.clip(spline("pitch"), -89, 89)), spline("roll"),
                    float(np.clip(spline("radius"), 0.5, 20)), float(np.clip(spline("fov"), 1, 120)), mixed.camera.look_at)
    return mixed.with_(camera=cam)


def timeline_states(keys, frames: int):
    start, end = keys[0][0], keys[-1][0]
    for i in range(frames):
        yield timeline_state(keys, start + (end - start) * i / max(frames - 1, 1))


def write_video(frames_iter, path, fps: float, total: int, progress: bool = True) -> int:
    """Encode uint8 frames to MP4 (H.264, yuv420p) or GIF, atomically; returns frame count."""
    import os
    import shutil
    import tempfile

    import imageio.v2 as imageio
    from tqdm import tqdm

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise ValueError(f"{path}: video must be .mp4 or .gif")
    path.parent.mkdir(parents=True, exist_ok=True)
    # a private folder, not just a temporary name: ffmpeg reopens its output to finish an
    # MP4, and on cancel that must fail rather than leave a stray file behind
    tmp_dir = tempfile.mkdtemp(prefix=f".{path.stem}.", dir=path.parent)
    tmp = os.path.join(tmp_dir, f"partial{suffix}")
    count = 0
    try:
        if suffix == ".mp4":
            writer = imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", pixelformat="yuv420p",
                                        macro_block_size=16, quality=8, ffmpeg_log_level="quiet")
        else:
            writer = imageio.get_writer(tmp, format="GIF", duration=1000.0 / fps, loop=0)
        with writer:
            for frame in tqdm(frames_iter, total=total, unit="frame", desc="video", disable=not progress):
                writer.append_data(frame)
                count += 1
        if suffix == ".mp4":  # ffmpeg may have died (disk full): its exit is not checked by imageio
            from imageio_ffmpeg import count_frames_and_secs

            try:
                written = count_frames_and_secs(tmp)[0]
            except (RuntimeError, OSError, ValueError):
                written = 0
            if written != count:
                raise OSError(f"{path}: the encoder wrote {written} of {count} frames (disk full?); "
                              "the existing file is kept")
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    shutil.rmtree(tmp_dir, ignore_errors=True)
    return count
