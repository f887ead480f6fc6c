"""`avatar-studio render`: one image of a state, and optionally every pass."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.expression import Expression
from core.fileio import read_json, save_png
from core.lighting import SphericalHarmonicsLighting
from core.passes import pass_image, resize_frame, rgba_image, save_passes
from core.state import AvatarState, OrbitPose, RenderSettings

ENVMAP_SUFFIXES = {".hdr", ".exr", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def load_lighting(spec: str) -> SphericalHarmonicsLighting:
    """A preset name, a lighting JSON file, or an environment map image."""
    path = Path(spec)
    if path.suffix.lower() == ".json":
        data = read_json(path)
        try:
            return SphericalHarmonicsLighting.from_json(data)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: {e}") from None
    if path.suffix.lower() in ENVMAP_SUFFIXES:
        return SphericalHarmonicsLighting.from_environment_map(load_environment_map(path))
    return SphericalHarmonicsLighting.preset(spec)


def load_environment_map(path: Path) -> np.ndarray:
    """Linear RGB float image: HDR/EXR as stored, 8-bit images converted from sRGB."""
    import os

    os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
    import cv2

    if not path.exists():
        raise ValueError(f"{path}: no such file")
    img = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    img = img[..., ::-1].astype(np.float32)
    if path.suffix.lower() not in {".hdr", ".exr"}:
        img = img / (65535.0 if img.max() > 255 else 255.0)
        img = np.where(img <= 0.04045, img / 12.92, ((img + 0.055) / 1.055) ** 2.4)
    return img


def parse_expression_args(items, names) -> Expression:
    weights = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--expr {item!r}: expected NAME=VALUE")
        name, value = item.split("=", 1)
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--expr {item!r}: {value!r} is not a number") from None
    unknown = [n for n in weights if n not in names]
    if unknown:
        raise ValueError(f"--expr: this model has no expression {unknown[0]!r} (it has: {', '.join(names)})")
    return Expression.from_dict(weights, names)


def state_from_args(args, engine) -> AvatarState:
    if args.state:
        state = AvatarState.load(args.state)
    else:
        state = engine.default_state()
    if args.seed is not None:
        state = state.with_(identity=engine.sample_identity(args.seed, args.truncation))
    elif args.avatar:
        state = state.with_(identity=AvatarState.load(args.avatar).identity)
    cam = state.camera
    state = state.with_(camera=OrbitPose(
        args.yaw if args.yaw is not None else cam.yaw,
        args.pitch if args.pitch is not None else cam.pitch,
        cam.roll, cam.radius, args.fov if args.fov is not None else cam.fov, cam.look_at,
    ))
    if args.light:
        state = state.with_(lighting=load_lighting(args.light))
    if args.expr:
        state = state.with_(expression=parse_expression_args(args.expr, engine.cfg.expression_names))
    r = state.render
    res, quality = getattr(args, "res", None), getattr(args, "quality", None)
    state = state.with_(render=RenderSettings(
        res if res is not None else r.resolution, quality or r.quality, r.render_pass, r.background))
    return state


def run_render(args) -> int:
    from core.engine import InferenceEngine

    if not args.out and not args.passes:
        raise ValueError("render: give --out OUT.png and/or --passes DIR")
    if args.out and Path(args.out).suffix.lower() != ".png":
        raise ValueError(f"{args.out}: output must be a .png file")
    engine = InferenceEngine.from_checkpoint(args.model, args.device)
    state = state_from_args(args, engine)
    result = engine.render(state)
    frame = result.frame
    side = state.render.resolution
    if frame.rgb.shape[0] != side:
        frame = resize_frame(frame, side)
    if args.out:
        if getattr(args, "transparent", False):
            image = rgba_image(frame, state.render.render_pass)
        else:
            image = pass_image(frame, state.render.render_pass, state.render.background)
        save_png(args.out, image)
        print(f"wrote {args.out} ({side}x{side}, {state.render.render_pass}, {engine.device})")
    if args.passes:
        paths = save_passes(frame, args.passes, state.render.background)
        print(f"wrote {len(paths)} passes to {args.passes}")
    return 0
