"""`avatar-studio eval`: PSNR/SSIM, albedo, normals, relighting and geometry of a model on
held-out data (training/evaluate.py)."""
from __future__ import annotations

import json

from cli.common import NEURAL_RESOLUTIONS, add_model_flags, number

NAME = "eval"
OUTPUT_FILES = ("json",)


def add_parser(sub) -> None:
    ev = sub.add_parser(NAME, help="PSNR/SSIM, albedo, normals, relighting, geometry on held-out data")
    add_model_flags(ev)
    ev.add_argument("--data", required=True)
    ev.add_argument("--json", help="also write every figure as JSON")
    ev.add_argument("--max-samples", type=number(int, 1))
    ev.add_argument("--neural-resolution", type=number(int, *NEURAL_RESOLUTIONS), default=64,
                    help="rendered at this size, then x superres")
    ev.add_argument("--quality", choices=("preview", "refined", "naive"), default="refined")
    ev.add_argument("--fit-steps", type=int, default=0,
                    help="identities the model has no code for: fit one on half their views with N steps")
    ev.add_argument("--expression-samples", type=int, default=12,
                    help="samples on which every expression name is measured alone against the engine (0: none)")


def run(args) -> int:
    from training.evaluate import evaluate

    result = evaluate(args.model, args.data, args.device, args.max_samples, neural_resolution=args.neural_resolution,
                      fit_steps=args.fit_steps, progress=True, quality=args.quality,
                      expression_samples=args.expression_samples)
    fitted = f", {result['fitted_identities']} identities fitted" if result["fitted_identities"] else ""
    print(f"{result['samples']} samples at {result['neural_resolution']}x{result['neural_resolution']} "
          f"neural resolution, {result['quality']} quality{fitted}")
    for k, v in result["summary"].items():
        print(f"  {k:<34} {v:8.3f}")
    if "expression_change_corr_by_name" in result:
        print(f"  per expression ({result['expression_samples']} samples): change correlation, moved-pixel ratio")
        for name, c in result["expression_change_corr_by_name"].items():
            print(f"    {name:<18} {c:6.3f} {result['expression_pixel_ratio_by_name'][name]:6.2f}")
    if args.json:
        from core.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1))
    return 0
