"""A contact sheet of random synthetic identities under varied lighting and expressions.

    python -m training.synth.contact_sheet --out docs/synth-contact-sheet.png
"""
from __future__ import annotations

import argparse

import numpy as np

from core.expression import DEFAULT_EXPRESSION_NAMES
from core.fileio import save_png, to_uint8
from training.synth.head_mesh import HeadBuilder
from training.synth.identity import HeadIdentity
from training.synth.renderer import HeadRenderer, expression_transfer
from training.synth.sampling import sample_background, sample_expression, sample_lighting, sample_pose


def contact_sheet(count: int = 16, columns: int = 4, resolution: int = 192, seed: int = 2026) -> np.ndarray:
    renderer = HeadRenderer(resolution)
    tiles = []
    try:
        for i in range(count):
            rng = np.random.default_rng([seed, i])
            builder = HeadBuilder(HeadIdentity.sample(seed * 1000 + i))
            neutral = builder.build()
            transfer = renderer.visibility_transfer(neutral)
            expr = sample_expression(rng, DEFAULT_EXPRESSION_NAMES, "random")
            geo = builder.build(expr) if np.any(expr.values) else neutral
            pose = sample_pose(rng, yaw_std=20.0)
            frame = renderer.render(geo, pose.to_camera(), sample_lighting(rng), sample_background(rng, resolution),
                                    expression_transfer(transfer, geo))
            tiles.append(to_uint8(frame.rgb))
    finally:
        renderer.release()
    rows = [np.concatenate(tiles[r * columns:(r + 1) * columns], 1) for r in range(count // columns)]
    return np.concatenate(rows, 0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    save_png(args.out, contact_sheet(args.count, seed=args.seed))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
