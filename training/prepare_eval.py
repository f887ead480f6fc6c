"""How well `prepare` and the personal avatar do, measured on the synthetic engine.

    python -m training.prepare_eval video --out runs/own_data          # render the test videos
    avatar-studio prepare --in runs/own_data/talking.mp4 --out runs/own_data/prepared
    python -m training.prepare_eval labels --dir runs/own_data         # camera / SH / expression errors
    python -m training.prepare_eval astronaut --out runs/own_data/astronaut
    avatar-studio train --config training/recipes/personal.json --data runs/own_data/prepared \
        --out runs/own_data/personal
    python -m training.prepare_eval avatar --dir runs/own_data --model runs/own_data/personal/model.safetensors

The test subject is a head the bundled model never saw (the engine's identity of seed
EVAL_SEED; the bundled model was trained on seed 1's heads): a talking head turning
+-35 deg under a key light that travels round it, over a plain wall, filmed with a wider
lens than the training framing (the head fills the middle of a larger frame, so prepare
has to find the crop). `talking.mp4` is what prepare gets; `held_out.mp4` is the same
motion at other moments (never trained on); truth.json holds the engine's per-frame pose,
expression and lighting; `unseen/` holds engine renders of the head with expressions and
lights the video never shows, at the training framing, with their true labels.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from core.camera import DEFAULT_FOCAL, Camera, orbit
from core.expression import DEFAULT_EXPRESSION_NAMES, Expression
from core.lighting import SphericalHarmonicsLighting

EVAL_SEED = 7          # the engine's identity seed of the test head (the bundled model used seed 1)
VIDEO_RES = 320        # frame side; the training framing is its middle CROP_RES pixels
CROP_RES = 256
FPS = 12.0
TRAIN_FRAMES = 144
HELD_OUT_FRAMES = 24
WALL = np.array([0.62, 0.66, 0.72])


def eval_identity():
    from training.synth.identity import HeadIdentity

    return HeadIdentity.sample(EVAL_SEED * 1_000_003)


def motion(t: float) -> dict:
    """Pose, expression and light of the talking head at time t (seconds): yaw sweeps
    +-35 deg twice a cycle of 12 s, the head nods and tilts a little, the mouth talks,
    brows and smile come and go, and the key light travels from the left to the right."""
    names = DEFAULT_EXPRESSION_NAMES
    w = 2 * math.pi
    yaw = 35.0 * math.sin(w * t / 6.0)
    pitch = 2.0 + 7.0 * math.sin(w * t / 4.3 + 0.5)
    roll = 4.0 * math.sin(w * t / 5.1 + 1.0)
    v = dict.fromkeys(names, 0.0)
    v["jawOpen"] = max(0.0, 0.55 * math.sin(w * t / 0.9)) + max(0.0, 0.25 * math.sin(w * t / 2.3))
    v["mouthFunnel"] = max(0.0, 0.6 * math.sin(w * t / 3.1 + 1.0)) ** 2
    v["mouthPucker"] = max(0.0, 0.7 * math.sin(w * t / 4.7 + 2.0)) ** 2
    smile = max(0.0, 0.8 * math.sin(w * t / 7.0 + 0.3))
    v["mouthSmileLeft"], v["mouthSmileRight"] = smile, smile * 0.9
    v["browInnerUp"] = max(0.0, 0.7 * math.sin(w * t / 5.3 + 2.5))
    down = max(0.0, 0.6 * math.sin(w * t / 6.1 + 4.0))
    v["browDownLeft"], v["browDownRight"] = down, down
    v = {k: float(np.clip(x, 0.0, 1.0)) for k, x in v.items()}
    az = math.radians(-70.0 + 140.0 * (0.5 + 0.5 * math.sin(w * t / 12.0 - math.pi / 2)))
    el = math.radians(25.0 + 15.0 * math.sin(w * t / 8.0))
    key = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])
    light = SphericalHarmonicsLighting.from_directional(key, (1.0, 0.97, 0.92), intensity=0.8,
                                                        ambient=0.38 + 0.1 * math.sin(w * t / 9.0))
    return {"yaw": yaw, "pitch": pitch, "roll": roll, "expression": v, "sh": light.coeffs.reshape(-1).tolist()}


def video_camera(yaw: float, pitch: float, roll: float) -> Camera:
    """The wider camera of the video: the orbit camera's view, its framing the middle
    CROP_RES / VIDEO_RES of the frame."""
    cam = orbit(yaw, pitch, roll=roll)
    k = cam.intrinsics.copy()
    k[0, 0] = k[1, 1] = DEFAULT_FOCAL * CROP_RES / VIDEO_RES
    return Camera(cam.cam2world, k)


def wall(res: int) -> np.ndarray:
    y = np.linspace(0.0, 1.0, res)[:, None, None]
    return np.broadcast_to(WALL * (1.08 - 0.16 * y), (res, res, 3)).copy()


def render_video(out: Path, frames: int, offset: float, name: str, renderer, builder, transfer) -> list:
    import imageio.v2 as imageio
    from training.synth.renderer import mouth_cavity_transfer

    from core.fileio import to_uint8

    names = DEFAULT_EXPRESSION_NAMES
    truth = []
    writer = imageio.get_writer(str(out / name), fps=FPS, codec="libx264", quality=9, macro_block_size=16,
                                ffmpeg_log_level="error", pixelformat="yuv420p")
    try:
        bg = wall(VIDEO_RES)
        for i in range(frames):
            t = (i + offset) / FPS
            m = motion(t)
            expr = Expression.from_dict(m["expression"], names)
            geo = builder.build(expr)
            f = renderer.render(geo, video_camera(m["yaw"], m["pitch"], m["roll"]),
                                SphericalHarmonicsLighting(np.asarray(m["sh"])), bg, mouth_cavity_transfer(transfer, geo))
            writer.append_data(to_uint8(f.rgb))
            truth.append({"frame": i, "time": t, **m})
    finally:
        writer.close()
    return truth


UNSEEN_EXPRESSIONS = ({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}, {"mouthFrownLeft": 0.9, "mouthFrownRight": 0.9},
                      {"eyeWideLeft": 1.0, "eyeWideRight": 1.0, "browOuterUpLeft": 0.8, "browOuterUpRight": 0.8},
                      {"cheekPuff": 1.0}, {"jawOpen": 0.9, "browInnerUp": 0.9}, {"mouthSmileLeft": 1.0})
UNSEEN_LIGHTS = ("key-left", "key-right", "top", "rim")
UNSEEN_POSES = ((0.0, 0.0), (20.0, 5.0), (-25.0, -3.0))


def cmd_video(args) -> int:
    from training.synth.head_mesh import HeadBuilder
    from training.synth.renderer import HeadRenderer, mouth_cavity_transfer

    from core.fileio import atomic_write_text, save_png, to_uint8

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ident = eval_identity()
    builder = HeadBuilder(ident)
    t0 = time.time()
    renderer = HeadRenderer(VIDEO_RES)
    try:
        transfer = renderer.visibility_transfer(builder.build())
        train = render_video(out, args.frames, 0.0, "talking.mp4", renderer, builder, transfer)
        held = render_video(out, args.held_out, 0.5, "held_out.mp4", renderer, builder, transfer)
    finally:
        renderer.release()
    # unseen expressions and lights at the training framing, over white (the model's background)
    renderer = HeadRenderer(CROP_RES)
    unseen = {"labels": [], "sh": {}, "expression": {}, "identity": {}}
    try:
        transfer = renderer.visibility_transfer(builder.build())
        k = 0
        for expr_dict in UNSEEN_EXPRESSIONS:
            for j, light_name in enumerate(UNSEEN_LIGHTS[:2]):
                yaw, pitch = UNSEEN_POSES[(k + j) % len(UNSEEN_POSES)]
                light = SphericalHarmonicsLighting.preset(UNSEEN_LIGHTS[(k + j) % len(UNSEEN_LIGHTS)])
                expr = Expression.from_dict(expr_dict, DEFAULT_EXPRESSION_NAMES)
                geo = builder.build(expr)
                cam = orbit(yaw, pitch)
                f = renderer.render(geo, cam, light, None, mouth_cavity_transfer(transfer, geo))
                rel = f"images/unseen_{k:02d}_{j}.png"
                save_png(out / "unseen" / rel, to_uint8(f.rgb))
                unseen["labels"].append([rel, cam.to_label()])
                unseen["sh"][rel] = light.coeffs.reshape(-1).tolist()
                unseen["expression"][rel] = expr.to_dict()
                unseen["identity"][rel] = 0
            k += 1
    finally:
        renderer.release()
    atomic_write_text(out / "unseen" / "dataset.json", json.dumps(unseen))
    atomic_write_text(out / "truth.json", json.dumps({"identity_seed": EVAL_SEED, "identity": ident.to_json(),
                                                      "fps": FPS, "video_res": VIDEO_RES, "crop_res": CROP_RES,
                                                      "talking": train, "held_out": held}, indent=1))
    print(f"rendered {len(train)} + {len(held)} video frames and {len(unseen['labels'])} unseen views "
          f"to {out} in {time.time() - t0:.0f} s")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("video", help="render the synthetic test videos and their truth")
    v.add_argument("--out", required=True)
    v.add_argument("--frames", type=int, default=TRAIN_FRAMES)
    v.add_argument("--held-out", type=int, default=HELD_OUT_FRAMES)
    args = ap.parse_args(argv)
    return {"video": cmd_video}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
