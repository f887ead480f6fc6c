"""Landmark data for the face tracker: synthetic heads rendered over random poses,
expressions, lights and backgrounds, with dlib's 68 landmarks found on each render the
way the tracker finds them, next to the engine's truth (pose, expression, landmarks).

Per identity there is also a calibration frame: the same head neutral and looking
(nearly) straight at the camera, as a user holds still when asked to calibrate.

Samples go to shard files (`SHARD_PATTERN`, one per block of identities) so a long run
can be stopped and resumed; a shard is written atomically when its block is done.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.expression import DEFAULT_EXPRESSION_NAMES, Expression
from core.state import OrbitPose

SHARD_PATTERN = "landmarks_{first:06d}_{count:03d}.npz"
# the spread of calibration poses: a person asked to look straight at the camera
CALIBRATION_POSE_STD_DEG = 1.5


@dataclass(frozen=True)
class SampleSettings:
    resolution: int = 256
    yaw_std: float = 20.0
    max_yaw: float = 45.0
    pitch_std: float = 8.0
    max_pitch: float = 20.0
    roll_std: float = 5.0
    max_roll: float = 15.0
    neutral_fraction: float = 0.15


def sample_tracking_pose(rng: np.random.Generator, s: SampleSettings) -> OrbitPose:
    return OrbitPose(yaw=float(np.clip(rng.normal(0, s.yaw_std), -s.max_yaw, s.max_yaw)),
                     pitch=float(np.clip(rng.normal(0, s.pitch_std), -s.max_pitch, s.max_pitch)),
                     roll=float(np.clip(rng.normal(0, s.roll_std), -s.max_roll, s.max_roll)))


def sample_tracking_expression(rng: np.random.Generator, names=DEFAULT_EXPRESSION_NAMES,
                               neutral_fraction: float = 0.15) -> Expression:
    """Neutral sometimes; otherwise one to four names anywhere in [0.15, 1], a left/right
    pair often moving together, so every name is seen over its whole range and in
    combinations."""
    names = tuple(names)
    values = np.zeros(len(names))
    if rng.uniform() < neutral_fraction:
        return Expression(names, values)
    for idx in rng.choice(len(names), size=int(rng.integers(1, 5)), replace=False):
        values[idx] = max(values[idx], rng.uniform(0.15, 1.0))
        name = names[idx]
        for side, other in (("Left", "Right"), ("Right", "Left")):
            twin = name[: -len(side)] + other
            if name.endswith(side) and twin in names and rng.uniform() < 0.5:
                values[names.index(twin)] = np.clip(values[idx] * rng.uniform(0.7, 1.3), 0, 1)
    return Expression(names, values)


def render_landmark_samples(first_seed: int, identities: int, views: int, settings: SampleSettings,
                            renderer, faces, sample_seed: int, mesh=None) -> dict:
    """Render `views` random frames (and one calibration frame) of each identity
    HeadIdentity.sample(first_seed + i); returns arrays (NaN landmarks where dlib found
    no face). With `mesh` (core.tracking.mesh.FaceMesh) also MediaPipe's mesh of each
    frame and of its mirror image ("mesh", "mesh_mirror", NaN where none was found),
    cropped around dlib's landmarks as the tracker crops it."""
    from training.synth.head_mesh import HeadBuilder
    from training.synth.identity import HeadIdentity
    from training.synth.renderer import expression_transfer
    from training.synth.sampling import sample_background, sample_lighting

    from core.tracking.landmarks import BoxFromLandmarks, to_gray

    res = settings.resolution
    names = DEFAULT_EXPRESSION_NAMES
    out = {k: [] for k in ("identity", "pose", "expression", "dlib", "truth", "score")}
    calib = {k: [] for k in ("calib_identity", "calib_pose", "calib_dlib", "calib_truth")}
    if mesh is not None:
        out.update(mesh=[], mesh_mirror=[])
        calib.update(calib_mesh=[], calib_mesh_mirror=[])

    relations = []  # (offset, size) of detector boxes around the true landmarks

    def observe(frame, track_if_missed: bool):
        """dlib's landmarks in the detector's box; where the detector misses (a turned
        head) and `track_if_missed`, in the box a tracker would carry over from the
        previous frame, stood in for by the detector boxes' average relation to the
        true landmarks. -> (landmarks, score; NaN score when tracked, NaN points when
        neither)."""
        gray = to_gray(frame.rgb)
        boxes = faces.detect(gray)
        if boxes:
            box = max(boxes, key=lambda b: b.area())  # the largest face, as the tracker picks it
            rel = BoxFromLandmarks.measure(box, frame.landmarks)
            relations.append(np.r_[rel.offset, rel.size])
            return faces.landmarks(gray, box), box.score
        if not track_if_missed or not relations:
            return np.full((68, 2), np.nan), np.nan
        mean = np.mean(relations[-200:], axis=0)
        return faces.landmarks(gray, BoxFromLandmarks(mean[:2], mean[2])(frame.landmarks)), np.nan

    def observe_mesh(frame, pts, prefix: str):
        """The mesh of the frame and of its mirror image (x flipped: the same face seen in
        a mirror, for training on mirrored samples with their true mesh)."""
        if mesh is None:
            return
        from core.fileio import to_uint8
        from core.tracking.landmarks import landmark_frame
        from core.tracking.mesh_model import MESH_POINTS

        found = (np.full((MESH_POINTS, 3), np.nan),) * 2
        if np.all(np.isfinite(pts)):
            rgb = to_uint8(frame.rgb)
            centre, spread = landmark_frame(pts)
            mirrored_centre = np.array([rgb.shape[1] - centre[0], centre[1]])
            found = tuple(m if m is not None else np.full((MESH_POINTS, 3), np.nan)
                          for m in (mesh.points(rgb, centre, spread),
                                    mesh.points(np.ascontiguousarray(rgb[:, ::-1]), mirrored_centre, spread)))
        target = calib if prefix else out
        target[prefix + "mesh"].append(found[0]), target[prefix + "mesh_mirror"].append(found[1])

    for i in range(identities):
        seed = first_seed + i
        rng = np.random.default_rng([sample_seed, seed])
        builder = HeadBuilder(HeadIdentity.sample(seed))
        neutral = builder.build()
        transfer = renderer.visibility_transfer(neutral)
        pose = OrbitPose(*(float(v) for v in rng.normal(0.0, CALIBRATION_POSE_STD_DEG, 3)))
        frame = renderer.render(neutral, pose.to_camera(), sample_lighting(rng), sample_background(rng, res),
                                expression_transfer(transfer, neutral))
        pts, _ = observe(frame, track_if_missed=False)
        observe_mesh(frame, pts, "calib_")
        calib["calib_identity"].append(seed), calib["calib_pose"].append([pose.yaw, pose.pitch, pose.roll])
        calib["calib_dlib"].append(pts), calib["calib_truth"].append(frame.landmarks)
        for _ in range(views):
            pose = sample_tracking_pose(rng, settings)
            expr = sample_tracking_expression(rng, names, settings.neutral_fraction)
            geo = builder.build(expr) if np.any(expr.values) else neutral
            frame = renderer.render(geo, pose.to_camera(), sample_lighting(rng), sample_background(rng, res),
                                    expression_transfer(transfer, geo))
            pts, score = observe(frame, track_if_missed=True)
            observe_mesh(frame, pts, "")
            out["identity"].append(seed), out["pose"].append([pose.yaw, pose.pitch, pose.roll])
            out["expression"].append(expr.values), out["dlib"].append(pts), out["truth"].append(frame.landmarks)
            out["score"].append(score)
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in {**out, **calib}.items()}
    arrays["names"] = np.array(names)
    arrays["resolution"] = np.array(res)
    return arrays


def write_shards(out_dir, first_seed: int, identities: int, views: int, block: int = 20,
                 settings: SampleSettings = SampleSettings(), sample_seed: int = 0, mesh: bool = False) -> list[Path]:
    """Render identities first_seed .. first_seed + identities - 1 in blocks; a block whose
    shard exists is skipped (resume). `mesh`: also MediaPipe's face mesh of every frame."""
    from core.fileio import atomic_write_bytes
    from core.tracking.landmarks import DlibFaceLandmarks
    from training.synth.renderer import HeadRenderer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    renderer, faces = None, DlibFaceLandmarks()
    face_mesh = None
    if mesh:
        from core.tracking.mesh import FaceMesh

        face_mesh = FaceMesh()
    paths = []
    try:
        for start in range(first_seed, first_seed + identities, block):
            count = min(block, first_seed + identities - start)
            path = out_dir / SHARD_PATTERN.format(first=start, count=count)
            paths.append(path)
            if path.exists():
                continue
            renderer = renderer or HeadRenderer(settings.resolution)
            t0 = time.time()
            arrays = render_landmark_samples(start, count, views, settings, renderer, faces, sample_seed, face_mesh)
            import io

            buf = io.BytesIO()
            np.savez(buf, **arrays)
            atomic_write_bytes(path, buf.getvalue())
            found = np.isfinite(arrays["dlib"][:, 0, 0]).mean()
            meshed = f", mesh found {np.isfinite(arrays['mesh'][:, 0, 0]).mean():.0%}" if mesh else ""
            print(f"{path.name}: {count} heads x {views} views in {time.time() - t0:.0f} s, dlib found {found:.0%}{meshed}",
                  flush=True)
    finally:
        if renderer is not None:
            renderer.release()
    return paths


def existing_shards(folder) -> list[Path]:
    """Every shard file already in `folder` (from one run or several), in seed order."""
    return sorted(Path(folder).glob(SHARD_PATTERN.split("{")[0] + "*.npz"))


def load_shards(paths) -> dict:
    """Concatenate shard files (np.load without pickles)."""
    parts = [dict(np.load(p, allow_pickle=False)) for p in paths]
    if not parts:
        raise FileNotFoundError("no landmark shards")
    out = {}
    for k in parts[0]:
        if k in ("names", "resolution"):
            out[k] = parts[0][k]
        else:
            out[k] = np.concatenate([p[k] for p in parts])
    return out


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="render landmark samples for the face tracker")
    ap.add_argument("--out", required=True)
    ap.add_argument("--first-seed", type=int, default=500_000)
    ap.add_argument("--identities", type=int, default=320)
    ap.add_argument("--views", type=int, default=12)
    ap.add_argument("--block", type=int, default=20)
    ap.add_argument("--mesh", action="store_true", help="also MediaPipe's face mesh of every frame (and its mirror)")
    args = ap.parse_args(argv)
    write_shards(args.out, args.first_seed, args.identities, args.views, args.block, mesh=args.mesh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
