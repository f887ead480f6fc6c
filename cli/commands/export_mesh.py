"""`avatar-studio export-mesh`: the marching-cubes mesh of a head as GLB, OBJ or PLY."""
from __future__ import annotations

from pathlib import Path

from cli.common import add_model_flags, add_state_flags, number, state_from_args

NAME = "export-mesh"
OUTPUT_FILES = ("out",)


def add_parser(sub) -> None:
    m = sub.add_parser(NAME, help="marching-cubes mesh of a head as GLB, OBJ or PLY (metres, y up, +z face)")
    add_model_flags(m)
    add_state_flags(m)
    m.add_argument("--grid", type=int, default=256, help="marching cubes resolution (128-512)")
    m.add_argument("--level", type=number(float, 0.0, above=True), default=10.0, help="density iso-level")
    m.add_argument("--faces", type=int, help="decimate to about this many faces")
    m.add_argument("--smooth", type=int, default=0, help="Taubin smoothing iterations")
    m.add_argument("--colors", choices=("albedo", "lit", "none"), default="albedo", help="vertex colours")
    m.add_argument("--texture", type=int, default=0, metavar="SIZE",
                   help="bake a UV-unwrapped albedo texture (e.g. 1024); OBJ gets NAME.mtl + NAME_albedo.png")
    m.add_argument("--out", required=True, help="head.glb, head.obj or head.ply")


def run(args) -> int:
    from core.engine import InferenceEngine
    from core.export.mesh import FORMATS, MeshExportConfig, extract_mesh, save_mesh

    out = Path(args.out)
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"{out}: mesh format must be one of {', '.join(FORMATS)}")
    try:
        cfg = MeshExportConfig(resolution=args.grid, level=args.level, faces=args.faces,
                               smooth_iterations=args.smooth, colors=args.colors, texture=args.texture)
    except ValueError as e:  # name the flags (the config speaks of its own fields)
        raise ValueError(f"--grid/--level/--faces/--smooth/--texture: {e}") from None
    engine = InferenceEngine.from_checkpoint(args.model, args.device)
    state = state_from_args(args, engine)
    mesh = extract_mesh(engine, state, cfg)
    save_mesh(mesh, out)
    print(f"wrote {out}: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces, "
          f"{'watertight' if mesh.metadata.get('closed_surface') else 'not watertight'}, metres, y up, facing +z")
    return 0
