"""`avatar-studio synth`: write a synthetic head dataset (training/synth/dataset.py). It draws
heads with the synthetic engine, not a head model: no --model, no --device."""
from __future__ import annotations

from pathlib import Path

NAME = "synth"
OUTPUT_FOLDERS = ("out",)


def add_parser(sub) -> None:
    sy = sub.add_parser(NAME, help="write a synthetic head dataset (EG3D format + our labels)")
    sy.add_argument("--identities", type=int, required=True)
    sy.add_argument("--views-per-identity", type=int, required=True)
    sy.add_argument("--res", type=int, default=128)
    sy.add_argument("--seed", type=int, default=0)
    sy.add_argument("--view-seed", type=int, help="same identities as --seed, other views (held-out sets)")
    sy.add_argument("--expressions", choices=("random", "mild", "neutral"), default="random")
    sy.add_argument("--lighting", choices=("random", "presets"), default="random")
    sy.add_argument("--background", choices=("random", "plain", "colour", "texture"), default="random")
    sy.add_argument("--passes", action="store_true", help="also write albedo/shading/normal/depth/alpha images")
    sy.add_argument("--meshes", action="store_true", help="also write each sample's ground-truth mesh (PLY)")
    sy.add_argument("--expression-variants", type=int, default=1,
                    help="V > 1: render each view V times, neutral and V-1 strong expressions (paired training data)")
    sy.add_argument("--shard", help="K/N: write only identities i with i %% N == K (run N of these in parallel)")
    sy.add_argument("--out", required=True)


def run(args) -> int:
    from training.synth.dataset import SynthConfig, write_dataset

    cfg = SynthConfig(identities=args.identities, views_per_identity=args.views_per_identity, resolution=args.res,
                      seed=args.seed, expressions=args.expressions, lighting=args.lighting, background=args.background,
                      passes=args.passes, meshes=args.meshes, view_seed=args.view_seed,
                      expression_variants=getattr(args, "expression_variants", 1))
    if not 1 <= cfg.expression_variants <= 64:
        raise ValueError(f"synth: --expression-variants {cfg.expression_variants} outside [1, 64]")
    if cfg.identities < 1 or cfg.views_per_identity < 1:
        raise ValueError("synth: --identities and --views-per-identity must be at least 1")
    if not 16 <= cfg.resolution <= 1024:
        raise ValueError(f"synth: --res {cfg.resolution} outside [16, 1024]")
    shard = (0, 1)
    if args.shard:
        try:
            k, n = (int(x) for x in args.shard.split("/"))
        except ValueError:
            raise ValueError(f"synth: --shard {args.shard!r}: expected K/N, e.g. 0/4") from None
        if not 0 <= k < n:
            raise ValueError(f"synth: --shard {args.shard!r}: need 0 <= K < N")
        shard = (k, n)
    out = Path(args.out)
    stats = write_dataset(cfg, out, shard)
    rate = stats["written"] / max(stats["seconds"], 1e-9)
    print(f"wrote {stats['written']} images ({stats['skipped']} already there) to {out} "
          f"in {stats['seconds']:.1f} s ({rate:.1f} images/s)")
    return 0
