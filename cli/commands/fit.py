"""`avatar-studio fit`: a photo -> an avatar file (core/fitting: align, fit, optional
pivotal tuning; core/avatar.py: the file). Bad input (no face, several faces: the
largest is used and said so, a tiny face, a profile, a corrupt, unsupported or huge
file) is one line naming the photo, exit 2, and nothing is written."""
from __future__ import annotations

import argparse
from pathlib import Path

from cli.common import CommandError, add_model_flags, number

NAME = "fit"
OUTPUT_FILES = ("out",)
OUTPUT_FOLDERS = ("preview",)


def add_parser(sub) -> None:
    from core.fitting.fit import PRESETS

    p = sub.add_parser(NAME, help="fit a face photo into the model: an avatar file")
    p.add_argument("photo", help="the photo (PNG, JPEG, BMP, WebP, TIFF)")
    add_model_flags(p)
    p.add_argument("--out", help="avatar file (.safetensors); default: the avatar library "
                                 "(~/.local/share/avatar-studio/avatars or $AVATAR_STUDIO_AVATARS)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default", help="speed/quality preset (default: default)")
    p.add_argument("--steps", type=number(int, 1, 100000), help="fit steps (default: the preset's)")
    p.add_argument("--pti", action=argparse.BooleanOptionalAction, default=True,
                   help="pivotal tuning after the fit: closer to the photo (+2.2 dB on held-out heads), a "
                        "third slower; --no-pti skips it (default: on)")
    p.add_argument("--pti-steps", type=number(int, 1, 100000), help="tuning steps (default: the preset's)")
    p.add_argument("--preview", help="folder for progress previews and the final comparison")
    p.add_argument("--name", help="the avatar's name (default: the photo's file name)")


def run(args) -> int:
    import time
    from dataclasses import replace

    import numpy as np

    from core.checkpoint import load_checkpoint
    from core.fileio import save_png, to_uint8
    from core.fitting.align import FaceAlignmentError, align_photo, load_photo
    from core.fitting.fit import PRESETS, fit_photo, make_avatar, training_codes

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() != ".safetensors":
        raise CommandError(f"--out {args.out}: an avatar file must end in .safetensors")
    if args.pti_steps is not None and not args.pti:
        raise CommandError("--pti-steps: tuning is off (--no-pti)")
    settings = PRESETS[args.preset]
    settings = replace(settings, steps=args.steps or settings.steps,
                       pti_steps=(args.pti_steps or settings.pti_steps) if args.pti else 0)
    photo_path = Path(args.photo)
    try:
        photo = load_photo(photo_path)
    except FaceAlignmentError as e:
        raise CommandError(str(e)) from None
    from core.engine import select_device

    model, provenance = load_checkpoint(args.model, device=select_device(args.device))
    t0 = time.perf_counter()
    try:
        face = align_photo(photo, expression_names=model.cfg.expression_names)
    except FaceAlignmentError as e:
        raise CommandError(f"{photo_path}: {e}") from None
    for w in face.warnings:
        print(f"{photo_path}: warning: {w}")
    print(f"aligned in {time.perf_counter() - t0:.1f} s: yaw {face.camera.yaw:+.1f}, pitch {face.camera.pitch:+.1f}")
    preview = Path(args.preview) if args.preview else None

    def progress(p):
        line = f"\r{p.stage} {p.step}/{p.total} loss {p.loss:.4f} ({p.elapsed_s:.0f} s)"
        print(line, end="", flush=True)
        if preview is not None and p.preview is not None:
            save_png(preview / f"step_{p.step:04d}.png", to_uint8(p.preview))

    result = fit_photo(model, face, settings, progress, training_codes=training_codes(provenance))
    print()
    name = args.name or photo_path.stem
    avatar = make_avatar(face, result, name, args.model, photo_path, settings, model)
    if out is None:
        from core.avatar import library_path

        out = library_path(name)
    avatar.save(out)
    if preview is not None:
        from core.engine import InferenceEngine

        engine = InferenceEngine(model, model.prior_mean.device)
        avatar.apply_to_engine(engine, args.model)
        fitted = engine.render(avatar.state(photo_expression=True)).frame.rgb.numpy()
        save_png(preview / "final.png", to_uint8(np.concatenate([face.image, fitted], 1)))
    steps = result.steps_done + result.pti_steps_done
    print(f"wrote {out} ({steps} steps in {result.seconds:.0f} s, {steps / max(result.seconds, 1e-9):.2f} steps/s, "
          f"loss {result.losses[0] if result.losses else float('nan'):.4f} -> {result.best_loss:.4f})")
    return 0
