"""`avatar-studio export-mesh` and `avatar-studio export-video`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.commands.render import state_from_args
from core.passes import depth_preview, pass_image, resize_frame
from core.state import PASSES


def run_export_mesh(args) -> int:
    from core.engine import InferenceEngine
    from core.export.mesh import FORMATS, MeshExportConfig, extract_mesh, save_mesh

    out = Path(args.out)
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"{out}: mesh format must be one of {', '.join(FORMATS)}")
    cfg = MeshExportConfig(resolution=args.grid, level=args.level, faces=args.faces, smooth_iterations=args.smooth,
                           colors=args.colors, texture=args.texture)
    engine = InferenceEngine.from_checkpoint(args.model, args.device)
    state = state_from_args(args, engine)
    mesh = extract_mesh(engine, state, cfg)
    save_mesh(mesh, out)
    print(f"wrote {out}: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces, "
          f"{'watertight' if mesh.metadata.get('closed_surface') else 'not watertight'}, metres, y up, facing +z")
    return 0


def run_export_video(args) -> int:
    from core.engine import InferenceEngine
    from core.export import video

    out = Path(args.out)
    if out.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"{out}: video must be .mp4 or .gif")
    if args.frames < 1 or args.fps <= 0:
        raise ValueError("export-video: --frames must be >= 1 and --fps > 0")
    if args.res % 2:
        raise ValueError(f"export-video: --res {args.res} must be even (yuv420p)")
    passes = [p.strip() for p in (args.passes or "rgb").split(",") if p.strip()]
    bad = [p for p in passes if p not in PASSES]
    if bad:
        raise ValueError(f"export-video: unknown pass {bad[0]!r}; passes are {', '.join(PASSES)}")
    engine = InferenceEngine.from_checkpoint(args.model, args.device)
    base = state_from_args(args, engine)
    from core.state import RenderSettings

    base = base.with_(render=RenderSettings(args.res, args.quality, "rgb", base.render.background))
    n = args.frames
    if args.path.lower().endswith(".json"):
        states = video.path_states("timeline", base, n, timeline=video.load_timeline(args.path))
    elif args.path in video.PATHS:
        states = video.path_states(args.path, base, n, engine.sample_identity(args.seed_b, args.truncation))
    else:
        raise ValueError(f"export-video: --path {args.path!r}: use {', '.join(video.PATHS)} or a timeline .json")

    def frames():
        for state in states:
            frame = engine.render(state).frame
            if frame.rgb.shape[0] != args.res:
                frame = resize_frame(frame, args.res)
            tiles = [depth_preview(frame) if p == "depth" else pass_image(frame, p, state.render.background)
                     for p in passes]
            yield np.concatenate(tiles, axis=1)

    count = video.write_video(frames(), out, args.fps, n)
    print(f"wrote {out}: {count} frames at {args.fps:g} fps, {args.res * len(passes)}x{args.res}")
    return 0
