"""Train the tracker's face-mesh expression model (assets/face_mesh_expression.safetensors).

    python -m training.tracking_data --mesh --out runs/tracking/mesh --identities 160 --views 12
    python -m training.mesh_regressor --data runs/tracking/mesh --out assets/face_mesh_expression.safetensors

1. Data (training/tracking_data.py with --mesh): synthetic heads over random poses,
   expressions, lights and backgrounds; MediaPipe's mesh of each render and of its mirror
   image; a neutral calibration frame per head.
2. The canonical mesh: the neutral training meshes brought onto each other (generalised
   Procrustes on the stable points) and averaged, eye corners one unit apart.
3. The regressor: an MLP from the aligned offsets of the lips, lids, irises, brows,
   cheeks and chin (and the head's rotation) to the 17 weights, trained on the training
   heads against the canonical mesh and against each head's calibrated neutral face,
   mirrored samples included (their own mesh, names swapped). The last heads are held
   out for the figures in the metadata.
"""
from __future__ import annotations

import json
import time

import numpy as np

from core.tracking.mesh_model import MESH_EYE_CORNERS, MESH_MODEL_FILE, MeshExpressionModel, similarity_to
from training.tracking_regressor import mirror_names, train_mlp

# MediaPipe's face-mesh topology (mediapipe.solutions.face_mesh_connections, 0.10.14)
LIPS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267, 269, 270,
        291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415)
EYES = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466,
        7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
BROWS = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336, 46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
IRISES = tuple(range(468, 478))
CHEEKS_CHIN = (50, 280, 205, 425, 187, 411, 123, 352, 116, 345, 117, 346, 152, 148, 377, 176, 400)
# the face's outline from the temples to the jaw: a puffed cheek shows there first
# (measured on held-out heads: cheekPuff correlation -0.03 without, 0.12 with, and the
# brows steadier)
CONTOUR = (234, 454, 93, 323, 132, 361, 58, 288, 172, 397, 136, 365, 150, 379)
FEATURE_POINTS = LIPS + EYES + BROWS + IRISES + CHEEKS_CHIN + CONTOUR
# forehead, nose bridge and tip, temples, inner and outer eye corners
ALIGN_POINTS = (10, 109, 338, 67, 297, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 2, 127, 356, 33, 263, 133, 362)


def canonical_mesh(meshes: np.ndarray, align_points=ALIGN_POINTS, iterations: int = 5) -> np.ndarray:
    """Generalised Procrustes mean of (N, 478, 3) neutral meshes on `align_points`,
    centred on those points, outer eye corners one apart."""
    idx = list(align_points)

    def normalise(m):
        m = m - m[idx].mean(0)
        a, b = MESH_EYE_CORNERS
        return m / np.linalg.norm(m[a] - m[b])

    mean = normalise(meshes[0])
    for _ in range(iterations):
        aligned = []
        for m in meshes:
            s, r, t = similarity_to(m[idx], mean[idx])
            aligned.append(s * m @ r.T + t)
        mean = normalise(np.mean(aligned, axis=0))
    return mean


def fit_mesh_model(data: dict, holdout_fraction: float = 0.15, hidden=(256, 256), epochs: int = 150,
                   dropout: float = 0.1, weight_decay: float = 1e-3, loss: str = "clipped_l1", log=print,
                   command: str | None = None, feature_points=FEATURE_POINTS,
                   align_points=ALIGN_POINTS) -> MeshExpressionModel:
    names = tuple(str(n) for n in data["names"])
    swap = mirror_names(names)
    seeds = np.unique(data["identity"])
    held = set(seeds[int(round(len(seeds) * (1 - holdout_fraction))):].tolist())
    is_train = np.array([s not in held for s in data["identity"]])
    found = {k: np.isfinite(data[k][:, 0, 0]) for k in ("mesh", "mesh_mirror", "calib_mesh", "calib_mesh_mirror")}
    log(f"{len(seeds)} heads ({len(held)} held out), {len(is_train)} frames; mesh found on "
        f"{found['mesh'].mean():.1%} (mirror {found['mesh_mirror'].mean():.1%})")

    neutral = is_train & ~np.any(data["expression"] > 0, axis=1)
    calib_train = np.array([s not in held for s in data["calib_identity"]])
    pool = [data["mesh"][neutral & found["mesh"]], data["calib_mesh"][calib_train & found["calib_mesh"]]]
    canonical = canonical_mesh(np.concatenate(pool), align_points)
    model = MeshExpressionModel(canonical, tuple(align_points), tuple(feature_points), names)
    log(f"canonical mesh from {sum(len(p) for p in pool)} neutral meshes")

    xs, ys, parts, rows_train, rows_held_orig = [], [], [], [], []
    for mirror in (False, True):
        key = "mesh_mirror" if mirror else "mesh"
        refs = {}
        for s, m in zip(data["calib_identity"], data["calib_" + key]):
            if np.all(np.isfinite(m)):
                refs[s] = model.calibrate(m)
        y = data["expression"][:, swap] if mirror else data["expression"]
        for calibrated in (False, True):
            x = np.full((len(y), 3 * len(feature_points) + 3), np.nan)
            for i, (s, m) in enumerate(zip(data["identity"], data[key])):
                if not np.all(np.isfinite(m)) or (calibrated and s not in refs):
                    continue
                x[i] = model.features(m, refs[s] if calibrated else None)
            xs.append(x), ys.append(y), parts.append(np.full(len(y), int(calibrated)))
            rows_train.append(is_train)
            rows_held_orig.append(~is_train if not mirror else np.zeros(len(y), bool))
    x, y, part = np.concatenate(xs), np.concatenate(ys), np.concatenate(parts)
    ok = np.all(np.isfinite(x), axis=1)
    fit_rows = ok & np.concatenate(rows_train)
    model.feature_mean = x[fit_rows].mean(0)
    model.feature_std = x[fit_rows].std(0) + 1e-6
    xn = (x[fit_rows] - model.feature_mean) / model.feature_std
    t0 = time.time()
    model.layers = train_mlp(xn, y[fit_rows], hidden, epochs, loss=loss, dropout=dropout, weight_decay=weight_decay)
    log(f"regressor: {fit_rows.sum()} samples, hidden {hidden}, {epochs} epochs, {time.time() - t0:.0f} s")

    figures = {}
    held_rows = ok & np.concatenate(rows_held_orig)
    for label, p in (("uncalibrated", 0), ("calibrated", 1)):
        rows = held_rows & (part == p)
        pred = model.predict(x[rows])
        err = np.abs(pred - y[rows])
        corr = {}
        for j, n in enumerate(names):
            ok_j = pred[:, j].std() > 1e-6 and y[rows][:, j].std() > 1e-6
            corr[n] = round(float(np.corrcoef(pred[:, j], y[rows][:, j])[0, 1]) if ok_j else 0.0, 3)
        figures[label] = {"samples": int(rows.sum()), "mean_abs_expression_error": float(err.mean()),
                          "zero_baseline_expression_error": float(np.abs(y[rows]).mean()),
                          "per_name": {n: round(float(e), 4) for n, e in zip(names, err.mean(0))},
                          "per_name_correlation": corr}
        log(f"held-out heads, {label}: expression error {err.mean():.4f} (answering 0: {np.abs(y[rows]).mean():.4f}), "
            f"mean correlation {np.mean(list(corr.values())):.3f} ({rows.sum()} samples)")
    model.metadata = {
        "command": command or "python -m training.mesh_regressor --out assets/face_mesh_expression.safetensors",
        "loss": loss, "hidden": list(hidden), "epochs": epochs,
        "regularisation": {"dropout": dropout, "weight_decay": weight_decay},
        "training_heads": int(len(seeds) - len(held)), "held_out_heads": int(len(held)),
        "samples": int(len(data["identity"])), "resolution": int(data["resolution"]),
        "mediapipe": "0.10.14 face mesh, refine_landmarks (478 points), static mode on a crop around dlib's landmarks",
        "held_out": figures,
        "features": "aligned offsets (x, y, z; eye-corner units) of the feature points from the neutral reference, "
                    "then the alignment's rotation vector (radians)",
    }
    return model


def main(argv=None) -> int:
    import argparse
    import shlex
    import sys

    from training.tracking_data import existing_shards, load_shards

    ap = argparse.ArgumentParser(description="train the tracker's face-mesh expression regressor")
    ap.add_argument("--out", default=str(MESH_MODEL_FILE))
    ap.add_argument("--data", default="runs/tracking/mesh", help="shards from training.tracking_data --mesh")
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--hidden", default="256,256")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=1e-3)
    ap.add_argument("--loss", choices=("clipped_l1", "clipped_mse"), default="clipped_l1")
    args = ap.parse_args(argv)
    paths = existing_shards(args.data)
    data = load_shards(paths)
    if "mesh" not in data:
        print(f"{args.data}: shards without meshes (render them with python -m training.tracking_data --mesh)",
              file=sys.stderr)
        return 2
    command = "python -m training.mesh_regressor " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    hidden = tuple(int(h) for h in args.hidden.split(",") if h)
    model = fit_mesh_model(data, hidden=hidden, epochs=args.epochs, dropout=args.dropout,
                           weight_decay=args.weight_decay, loss=args.loss, command=command)
    model.save(args.out)
    print(json.dumps(model.metadata["held_out"], indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
