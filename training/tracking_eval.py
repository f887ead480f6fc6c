"""Measure the face tracker on driving sequences rendered by the synthetic engine, whose
per-frame pose and expression are known: heads and sequences the tracker's model never
saw (identity seeds far from its training seeds), a random light and background each.

    python -m training.tracking_eval --json runs/tracking/eval.json

Figures (docs/tracking.md):
- pose: the angle of the rotation between the tracked and the true head pose (median),
  and the median absolute yaw, pitch and roll errors;
- expression: the mean absolute error over the model's names, per name, the worst five;
  both for the tracker as it runs (smoothed) and for each frame's own estimate (raw),
  without and with the per-user neutral calibration (each sequence opens with a second
  of the head still, neutral and looking at the camera, used to calibrate);
- a static head (one frame repeated, with and without sensor noise): how much the
  smoothed yaw / pitch / roll and weights still move;
- a 30 degree turn: how many frames until the smoothed yaw is within 3 degrees;
- tracking time per frame.
"""
from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path

import numpy as np

from core.expression import DEFAULT_EXPRESSION_NAMES, Expression
from core.state import OrbitPose
from core.tracking.pose import HeadPose, rotation_from_orbit_angles
from core.tracking.tracker import FaceTracker
from training.tracking_data import sample_tracking_expression

EVAL_FIRST_SEED = 900_000
FPS = 30.0
CALIBRATION_FRAMES = 30   # the still, neutral opening of each sequence


def rotation_angle_deg(a: HeadPose, b: HeadPose) -> float:
    ra, rb = rotation_from_orbit_angles(a), rotation_from_orbit_angles(b)
    c = (np.trace(ra.T @ rb) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def sequence_truth(rng: np.random.Generator, frames: int, names=DEFAULT_EXPRESSION_NAMES):
    """Per-frame orbit poses (T, 3) and weights (T, N): a still neutral opening, then
    smooth head motion (sums of slow sines: yaw within 30 degrees, pitch 12, roll 8) and
    expressions moving between random keyframes every 0.4 s."""
    t = np.arange(frames) / FPS
    poses = np.zeros((frames, 3))
    for axis, amplitude in enumerate((30.0, 12.0, 8.0)):
        f = rng.uniform(0.15, 0.45, 2)
        ph = rng.uniform(0, 2 * math.pi, 2)
        a = rng.uniform(0.5, 1.0) * amplitude
        wave = 0.6 * np.sin(2 * math.pi * f[0] * t + ph[0]) + 0.4 * np.sin(2 * math.pi * f[1] * t + ph[1])
        poses[:, axis] = a * (wave - wave[CALIBRATION_FRAMES])  # continuous after the opening
    opening = rng.normal(0.0, 1.5, 3)  # a person asked to look straight at the camera
    poses[:CALIBRATION_FRAMES] = opening
    poses[CALIBRATION_FRAMES:] += opening
    poses[:, 0] = np.clip(poses[:, 0], -30, 30)
    weights = np.zeros((frames, len(names)))
    step = int(0.4 * FPS)
    keys = [np.zeros(len(names))]
    for _ in range(CALIBRATION_FRAMES, frames + step, step):
        keys.append(sample_tracking_expression(rng, names, neutral_fraction=0.15).values)
    for i in range(CALIBRATION_FRAMES, frames):
        k, r = divmod(i - CALIBRATION_FRAMES, step)
        s = 0.5 - 0.5 * math.cos(math.pi * r / step)
        weights[i] = (1 - s) * keys[k] + s * keys[k + 1]
    return poses, weights


def render_sequence(seed: int, frames: int, resolution: int, renderer, rng):
    from training.synth.head_mesh import HeadBuilder
    from training.synth.identity import HeadIdentity
    from training.synth.renderer import expression_transfer
    from training.synth.sampling import sample_background, sample_lighting

    poses, weights = sequence_truth(rng, frames)
    builder = HeadBuilder(HeadIdentity.sample(seed))
    neutral = builder.build()
    transfer = renderer.visibility_transfer(neutral)
    light, background = sample_lighting(rng), sample_background(rng, resolution)
    images = []
    for p, w in zip(poses, weights):
        expr = Expression(DEFAULT_EXPRESSION_NAMES, w)
        geo = builder.build(expr) if np.any(w) else neutral
        frame = renderer.render(geo, OrbitPose(*p).to_camera(), light, background, expression_transfer(transfer, geo))
        images.append((np.clip(frame.rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    return images, poses, weights


def track(images, tracker: FaceTracker, calibrate: bool):
    tracker.reset()
    tracker.clear_calibration()
    out = []
    for i, img in enumerate(images):
        r = tracker.process(img, i / FPS)
        if calibrate and i == CALIBRATION_FRAMES // 2 and r.face:
            tracker.calibrate()
        out.append(r)
    return out


def score(results, poses, weights, names):
    """Errors over the frames after the opening where a face was tracked."""
    rows = [i for i in range(CALIBRATION_FRAMES, len(results)) if results[i].face]
    out = {"frames": len(results) - CALIBRATION_FRAMES, "tracked": len(rows)}
    for kind in ("smoothed", "raw"):
        angle, axes, expr, pred, true = [], [], [], [], []
        for i in rows:
            r = results[i]
            pose = r.pose if kind == "smoothed" else r.raw_pose
            values = (r.expression if kind == "smoothed" else r.raw_expression).values
            truth = HeadPose(*poses[i])
            angle.append(rotation_angle_deg(pose, truth))
            axes.append(np.abs(pose.as_array() - poses[i]))
            expr.append(np.abs(values - weights[i]))
            pred.append(values), true.append(weights[i])
        out[kind] = {"angles": angle, "axes": axes, "expr": expr, "pred": pred, "true": true}
    return out


def summarise(parts, names) -> dict:
    summary = {}
    for kind in ("smoothed", "raw"):
        angle = np.concatenate([p[kind]["angles"] for p in parts])
        axes = np.concatenate([p[kind]["axes"] for p in parts])
        expr = np.concatenate([p[kind]["expr"] for p in parts])
        pred = np.concatenate([p[kind]["pred"] for p in parts])
        true = np.concatenate([p[kind]["true"] for p in parts])
        per_name = {n: float(e) for n, e in zip(names, expr.mean(0))}
        # what answering 0 for every name would score (most weights are 0 most of the
        # time, so a tracker must beat this to be saying anything), and how well the
        # estimate follows each name (correlation; 0 where either side never moves)
        baseline = {n: float(e) for n, e in zip(names, np.abs(true).mean(0))}
        corr = {}
        for j, n in enumerate(names):
            ok = pred[:, j].std() > 1e-6 and true[:, j].std() > 1e-6
            corr[n] = round(float(np.corrcoef(pred[:, j], true[:, j])[0, 1]), 3) if ok else 0.0
        summary[kind] = {
            "median_rotation_error_deg": float(np.median(angle)),
            "mean_rotation_error_deg": float(np.mean(angle)),
            "median_abs_error_deg": dict(zip(("yaw", "pitch", "roll"), np.median(axes, 0).round(3).tolist())),
            "mean_abs_expression_error": float(expr.mean()),
            "per_name": {k: round(v, 4) for k, v in per_name.items()},
            "zero_baseline_mean_abs_error": float(np.abs(true).mean()),
            "zero_baseline_per_name": {k: round(v, 4) for k, v in baseline.items()},
            "per_name_correlation": corr,
            "worst_five": sorted(per_name, key=per_name.get, reverse=True)[:5],
        }
    summary["frames"] = int(sum(p["frames"] for p in parts))
    summary["tracked_frames"] = int(sum(p["tracked"] for p in parts))
    return summary


def static_jitter(tracker: FaceTracker, renderer, seed: int, resolution: int, noise: float, frames: int = 90):
    """One frame of a held-out head repeated (with pixel noise of std `noise` in 8-bit
    units when > 0): the spread of the smoothed outputs after the first half second."""
    from training.synth.head_mesh import HeadBuilder
    from training.synth.identity import HeadIdentity
    from training.synth.renderer import expression_transfer
    from training.synth.sampling import sample_background, sample_lighting

    rng = np.random.default_rng([seed, 7])
    builder = HeadBuilder(HeadIdentity.sample(seed))
    neutral = builder.build()
    expr = Expression(DEFAULT_EXPRESSION_NAMES).with_value("mouthSmileLeft", 0.4).with_value("mouthSmileRight", 0.4)
    geo = builder.build(expr)
    frame = renderer.render(geo, OrbitPose(12.0, 4.0, 0.0).to_camera(), sample_lighting(rng),
                            sample_background(rng, resolution),
                            expression_transfer(renderer.visibility_transfer(neutral), geo))
    base = np.clip(frame.rgb, 0, 1) * 255
    tracker.reset()
    tracker.clear_calibration()
    poses, exprs, raw_poses = [], [], []
    for i in range(frames):
        img = base + (rng.normal(0, noise, base.shape) if noise > 0 else 0)
        r = tracker.process(np.clip(img + 0.5, 0, 255).astype(np.uint8), i / FPS)
        if r.face:
            poses.append(r.pose.as_array()), exprs.append(r.expression.values), raw_poses.append(r.raw_pose.as_array())
    settle = int(0.5 * FPS)
    p, e, rp = np.array(poses[settle:]), np.array(exprs[settle:]), np.array(raw_poses[settle:])
    return {"pixel_noise_std": noise, "tracked": len(poses), "frames": frames,
            "smoothed_pose_range_deg": dict(zip(("yaw", "pitch", "roll"), np.ptp(p, 0).round(4).tolist())),
            "smoothed_pose_std_deg": dict(zip(("yaw", "pitch", "roll"), p.std(0).round(4).tolist())),
            "raw_pose_std_deg": dict(zip(("yaw", "pitch", "roll"), rp.std(0).round(4).tolist())),
            "smoothed_expression_max_range": float(np.ptp(e, 0).max()),
            "smoothed_expression_max_std": float(e.std(0).max())}


def turn_response(tracker: FaceTracker, renderer, seed: int, resolution: int, turn: float = 30.0):
    """Frames at yaw 0, then the head turned by `turn` degrees: how many frames after the
    turn until the smoothed yaw is within 3 degrees of where it settles."""
    from training.synth.head_mesh import HeadBuilder
    from training.synth.identity import HeadIdentity
    from training.synth.renderer import expression_transfer
    from training.synth.sampling import sample_lighting

    rng = np.random.default_rng([seed, 11])
    builder = HeadBuilder(HeadIdentity.sample(seed))
    neutral = builder.build()
    transfer = expression_transfer(renderer.visibility_transfer(neutral), neutral)
    light = sample_lighting(rng)
    images = [(np.clip(renderer.render(neutral, OrbitPose(yaw, 0.0).to_camera(), light, None, transfer).rgb, 0, 1)
               * 255 + 0.5).astype(np.uint8) for yaw in (0.0, -turn)]
    tracker.reset()
    tracker.clear_calibration()
    before, after = 20, 20
    yaws = [tracker.process(images[0 if i < before else 1], i / FPS).pose.yaw for i in range(before + after)]
    settled = np.mean(yaws[-5:])
    within = next((i for i in range(before, before + after) if all(abs(y - settled) <= 3.0 for y in yaws[i:])),
                  before + after)
    return {"turn_deg": turn, "settled_yaw": float(settled), "start_yaw": float(yaws[before - 1]),
            "frames_to_within_3_deg": int(within - before + 1), "smoothed_yaw": [round(y, 2) for y in yaws]}


def astronaut_photo(tracker: FaceTracker) -> dict:
    """The one real face photo on hand (skimage's astronaut, Eileen Collins, smiling):
    the tracked pose and the weights a viewer would check (smile, eyes)."""
    from skimage import data

    tracker.reset()
    tracker.clear_calibration()
    r = tracker.process(data.astronaut(), 0.0)
    if not r.face:
        return {"face": False}
    w = r.raw_expression.to_dict()
    return {"face": True, "pose_deg": dict(zip(("yaw", "pitch", "roll"), np.round(r.raw_pose.as_array(), 2).tolist())),
            "weights": {k: round(v, 3) for k, v in w.items()}}


def main(argv=None) -> int:
    import argparse

    from training.synth.renderer import HeadRenderer

    ap = argparse.ArgumentParser(description="measure the face tracker on synthetic driving sequences")
    ap.add_argument("--sequences", type=int, default=6)
    ap.add_argument("--frames", type=int, default=90, help="per sequence, the 30-frame still opening included")
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--seed", type=int, default=EVAL_FIRST_SEED)
    ap.add_argument("--json")
    ap.add_argument("--tracker-model", help="a face tracker model other than the bundled one")
    ap.add_argument("--cache", help="keep the rendered sequences here (the next run re-tracks them only)")
    ap.add_argument("--expression-source", choices=("auto", "mesh", "dlib"), default="auto",
                    help="expression landmarks: MediaPipe's face mesh, dlib's 68 points, or the mesh where installed")
    args = ap.parse_args(argv)
    names = DEFAULT_EXPRESSION_NAMES
    renderer = HeadRenderer(args.res)
    from core.tracking.face_model import FaceModel

    tracker = FaceTracker(model=FaceModel.load(args.tracker_model) if args.tracker_model else None, names=names,
                          expression_source=args.expression_source)
    report = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}", "resolution": args.res,
              "sequences": args.sequences, "frames_per_sequence": args.frames, "fps": FPS,
              "tracker_model": tracker.model.metadata.get("command"), "expression_source": tracker.expression_source,
              "mesh_model": None if tracker.mesh_model is None else tracker.mesh_model.metadata.get("command")}
    parts = {"uncalibrated": [], "calibrated": []}
    times = []
    t0 = time.time()
    try:
        for k in range(args.sequences):
            seed = args.seed + k
            rng = np.random.default_rng([seed, 3])
            cached = Path(args.cache) / f"seq_{seed}_{args.frames}_{args.res}.npz" if args.cache else None
            if cached is not None and cached.exists():
                with np.load(cached) as z:
                    images, poses, weights = list(z["images"]), z["poses"], z["weights"]
            else:
                images, poses, weights = render_sequence(seed, args.frames, args.res, renderer, rng)
                if cached is not None:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    np.savez_compressed(cached, images=np.array(images), poses=poses, weights=weights)
            for label, calibrate in (("uncalibrated", False), ("calibrated", True)):
                results = track(images, tracker, calibrate)
                times += [r.timings_ms["total"] for r in results if r.face]
                parts[label].append(score(results, poses, weights, names))
            u = summarise(parts["uncalibrated"][-1:], names)
            print(f"sequence {k} (head {seed}): rotation error {u['smoothed']['median_rotation_error_deg']:.2f} deg, "
                  f"expression {u['smoothed']['mean_abs_expression_error']:.3f}, "
                  f"tracked {u['tracked_frames']}/{u['frames']} ({time.time() - t0:.0f} s)", flush=True)
        for label in parts:
            report[label] = summarise(parts[label], names)
        report["tracking_ms_per_frame"] = {"median": float(np.median(times)), "p90": float(np.percentile(times, 90))}
        jitter_seed = args.seed + 500
        report["static_head"] = [static_jitter(tracker, renderer, jitter_seed, args.res, noise) for noise in (0.0, 2.0)]
        report["turn_30_deg"] = turn_response(tracker, renderer, jitter_seed, args.res)
        report["astronaut"] = astronaut_photo(tracker)
    finally:
        renderer.release()
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        from core.fileio import atomic_write_text

        atomic_write_text(args.json, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
