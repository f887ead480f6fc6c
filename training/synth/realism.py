"""Measure how real the synthetic heads look to dlib: detection rate of dlib's frontal
face detector and the agreement of its 68 landmarks with the engine's, on frontal-ish
renders (|yaw| <= 20 deg, mild expressions, the dataset's random lighting).

    python -m training.synth.realism --identities 50 --views 2
"""
from __future__ import annotations

import json

import numpy as np

from core.expression import DEFAULT_EXPRESSION_NAMES
from core.state import OrbitPose
from training.synth.face_check import DlibFaces, inter_ocular, landmark_error
from training.synth.head_mesh import HeadBuilder
from training.synth.identity import HeadIdentity
from training.synth.renderer import HeadRenderer, expression_transfer
from training.synth.sampling import sample_expression, sample_lighting


def measure_realism(identities: int = 20, views: int = 2, resolution: int = 512, seed: int = 12345) -> dict:
    renderer = HeadRenderer(resolution)
    faces = DlibFaces()
    detected, errors, per_point = 0, [], []
    total = 0
    try:
        for i in range(identities):
            builder = HeadBuilder(HeadIdentity.sample(seed + i))
            neutral = builder.build()
            transfer = renderer.visibility_transfer(neutral)
            for k in range(views):
                rng = np.random.default_rng([seed, i, k])
                pose = OrbitPose(yaw=float(rng.uniform(-20, 20)), pitch=float(rng.uniform(-10, 10)))
                expr = sample_expression(rng, DEFAULT_EXPRESSION_NAMES, "mild")
                geo = builder.build(expr) if np.any(expr.values) else neutral
                frame = renderer.render(geo, pose.to_camera(), sample_lighting(rng), None,
                                        expression_transfer(transfer, geo))
                found = faces.detect((frame.rgb * 255).astype(np.uint8))
                total += 1
                if found is None:
                    continue
                detected += 1
                errors.append(landmark_error(frame.landmarks, found))
                per_point.append(np.linalg.norm(frame.landmarks - found, axis=1) / inter_ocular(frame.landmarks))
    finally:
        renderer.release()
    groups = {"jaw": slice(0, 17), "brows": slice(17, 27), "nose": slice(27, 36), "eyes": slice(36, 48),
              "mouth": slice(48, 68)}
    pp = np.mean(per_point, 0) if per_point else np.full(68, np.nan)
    return {
        "images": total,
        "detection_rate": detected / max(total, 1),
        "mean_landmark_error_iod": float(np.mean(errors)) if errors else float("nan"),
        "median_landmark_error_iod": float(np.median(errors)) if errors else float("nan"),
        "error_by_group_iod": {g: float(np.mean(pp[s])) for g, s in groups.items()},
        "resolution": resolution,
        "seed": seed,
    }


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--identities", type=int, default=50)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--res", type=int, default=512)
    ap.add_argument("--seed", type=int, default=12345, help="first identity seed (views are drawn from it too)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    result = measure_realism(args.identities, args.views, args.res, args.seed)
    print(json.dumps(result, indent=1))
    if args.json:
        from core.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
