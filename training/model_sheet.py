"""A contact sheet of a trained head model next to the synthetic engine's ground truth, to
judge by eye what the eval table says in numbers.

    python -m training.model_sheet --model assets/default_head.safetensors \
        --data HELD_OUT_DATASET --out docs/default-model-sheet.png

Rows: held-out views of training identities (one per identity), then freshly sampled
identities from the model's prior. Columns: the engine's image, the model's; a key light
from the left and from the right (engine | model); jawOpen (engine | model); a smile
(model); the same head turned 40 degrees (model).

With --expressions: the per-expression sheet (one column per name, engine above model).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from core.engine import InferenceEngine
from core.expression import Expression
from core.fileio import save_png, to_uint8
from core.identity import Identity
from core.lighting import SphericalHarmonicsLighting
from training.data import HeadDataset
from training.evaluate import engine_view, sample_state

COLUMNS = ("engine", "model", "left: engine", "model", "right: engine", "model", "jawOpen: engine", "model",
           "smile", "yaw 40")


def _label_row(width: int, tile: int) -> np.ndarray:
    import cv2

    row = np.full((22, width, 3), 255, np.uint8)
    for i, name in enumerate(COLUMNS):
        cv2.putText(row, name, (i * tile + 4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (40, 40, 40), 1, cv2.LINE_AA)
    return row


def _open(model_path, data_dir, neural_resolution):
    """(engine, held-out dataset at the model's output size, its dataset.json, the model's
    identity codes by identity key)."""
    engine = InferenceEngine.from_checkpoint(model_path, "cpu")
    data = HeadDataset(data_dir, neural_resolution * engine.cfg.superres_factor, engine.cfg.expression_names)
    meta = json.loads((data.folder / "dataset.json").read_text())
    prov = engine.provenance
    return engine, data, meta, dict(zip(prov.get("identity_ids") or [], prov.get("identity_codes") or []))


def _engine_truth(renderer, meta, sample):
    """The synthetic engine's render(expression, lighting) of a sample's head and view."""
    from training.synth.head_mesh import HeadBuilder
    from training.synth.identity import HeadIdentity

    parameters = meta["identity_parameters"][str(meta["identity"][sample.name])]
    return engine_view(renderer, HeadBuilder(HeadIdentity.from_json(parameters)), sample.camera)


def model_sheet(model_path, data_dir, rows: int = 6, sampled: int = 2, neural_resolution: int = 64) -> np.ndarray:
    from training.synth.renderer import HeadRenderer

    engine, data, meta, code_of = _open(model_path, data_dir, neural_resolution)
    names, res = engine.cfg.expression_names, neural_resolution * engine.cfg.superres_factor
    left, right = SphericalHarmonicsLighting.preset("key-left"), SphericalHarmonicsLighting.preset("key-right")
    jaw = Expression.neutral(names).with_value("jawOpen", 0.9)
    smile = Expression.neutral(names).with_value("mouthSmileLeft", 0.9).with_value("mouthSmileRight", 0.9)
    renderer = HeadRenderer(res)
    blank = np.full((res, res, 3), 1.0)

    def model(state, **changes):
        return engine.render(state.with_(**changes), "refined", neural_resolution=neural_resolution,
                             keep=False).frame.rgb.numpy()

    out, seen = [], set()
    try:
        for sample in data.samples:
            key = data.identity_keys[sample.identity]
            if key in seen or key not in code_of or len(seen) == rows:
                continue
            seen.add(key)
            truth = _engine_truth(renderer, meta, sample)
            state = sample_state(engine, sample, Identity(np.asarray(code_of[key])),
                               SphericalHarmonicsLighting(sample.sh), res)
            now = Expression(names, sample.expression)
            turned = replace(state.camera, yaw=state.camera.yaw + 40.0)
            out.append([sample.image, model(state), truth(now, left), model(state, lighting=left),
                        truth(now, right), model(state, lighting=right), truth(jaw, state.lighting),
                        model(state, expression=jaw), model(state, expression=smile), model(state, camera=turned)])
        for seed in range(sampled):
            state = engine.default_state().with_(identity=engine.sample_identity(seed, truncation=0.7))
            out.append([blank, model(state), blank, model(state, lighting=left), blank, model(state, lighting=right),
                        blank, model(state, expression=jaw), model(state, expression=smile),
                        model(state, camera=replace(state.camera, yaw=40.0))])
    finally:
        renderer.release()
    grid = np.concatenate([np.concatenate([to_uint8(t) for t in row], 1) for row in out], 0)
    return np.concatenate([_label_row(grid.shape[1], res), grid], 0)


def expression_sheet(model_path, data_dir, heads: int = 3, neural_resolution: int = 64,
                     crop: float = 0.62) -> np.ndarray:
    """One column per expression name the model knows (plus neutral), each alone at full
    strength; for each of `heads` training heads (a held-out view, its light) a row of the
    engine's truth above a row of the model's render. Tiles are cropped to the face."""
    import cv2

    from training.synth.renderer import HeadRenderer

    engine, data, meta, code_of = _open(model_path, data_dir, neural_resolution)
    names, res = engine.cfg.expression_names, neural_resolution * engine.cfg.superres_factor
    renderer = HeadRenderer(res)
    c = int(res * crop)
    y0, x0 = int(res * 0.22), (res - c) // 2

    def tile(img):
        return to_uint8(img)[y0:y0 + c, x0:x0 + c]

    expressions = [("neutral", Expression.neutral(names))] + [
        (n, Expression.neutral(names).with_value(n, 1.0)) for n in names]
    rows, seen = [], set()
    try:
        for sample in data.samples:
            key = data.identity_keys[sample.identity]
            if key in seen or key not in code_of or len(seen) == heads:
                continue
            if abs(sample.camera.cam2world[0, 3]) > 1.0:  # near-frontal views read best
                continue
            seen.add(key)
            truth = _engine_truth(renderer, meta, sample)
            light = SphericalHarmonicsLighting(sample.sh)
            state = sample_state(engine, sample, Identity(np.asarray(code_of[key])), light, res)
            rows.append([tile(truth(e, light)) for _, e in expressions])
            rows.append([tile(engine.render(state.with_(expression=e), "refined", neural_resolution=neural_resolution,
                                            keep=False).frame.rgb.numpy()) for _, e in expressions])
    finally:
        renderer.release()
    label = np.full((34, c * len(expressions), 3), 255, np.uint8)
    for i, (name, _) in enumerate(expressions):
        cv2.putText(label, name, (i * c + 3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (30, 30, 30), 1, cv2.LINE_AA)
        cv2.putText(label, "engine / model", (i * c + 3, 29), cv2.FONT_HERSHEY_SIMPLEX, 0.34, (110, 110, 110), 1,
                    cv2.LINE_AA)
    body = [np.concatenate(r, 1) for r in rows]
    for k in range(2, len(body), 3):  # a white gap between heads
        body.insert(k, np.full((6, body[0].shape[1], 3), 255, np.uint8))
    return np.concatenate([label] + body, 0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="held-out views of the model's training identities")
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=6)
    ap.add_argument("--expressions", action="store_true",
                    help="the per-expression sheet instead: one column per name, engine row above model row")
    args = ap.parse_args(argv)
    if args.expressions:
        save_png(args.out, expression_sheet(args.model, args.data, heads=max(1, args.rows // 2)))
    else:
        save_png(args.out, model_sheet(args.model, args.data, args.rows))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
