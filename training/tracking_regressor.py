"""Train the face tracker's model (assets/face_tracker.safetensors): the landmark template,
the landmarks the pose is fitted to, and the expression regressor.

    python -m training.tracking_regressor --out assets/face_tracker.safetensors

1. Landmark data (training/tracking_data.py, cached in --data; a finished shard is reused):
   synthetic heads over random poses, expressions, lights and backgrounds, dlib's
   landmarks found on each render, and a neutral calibration frame per head.
2. The template: each of dlib's 68 points triangulated over the neutral renders, whose
   cameras are known, then made left-right symmetric.
3. The pose points: of a few candidate sets, the one whose fitted poses are nearest the
   truth on the training heads.
4. The regressors: MLPs from pose-normalised landmark offsets and the fitted angles
   (FaceModel.features) to the 17 weights and to a correction of the fitted angles,
   trained on the training heads both against the template (uncalibrated) and against
   each head's own calibrated neutral face; every sample also mirrored (left and right
   swap). The last heads are held out for the figures in the metadata.
"""
from __future__ import annotations

import json
import time

import numpy as np

from core.camera import DEFAULT_FOCAL
from core.tracking.face_model import FACE_MODEL_FILE, POSE_OUTPUT_SCALE, FaceModel
from core.tracking.pose import HeadPose, rotation_from_orbit_angles

# iBUG 68: the index each point takes in the mirror image
MIRROR = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])

POSE_POINT_SETS = {
    "brows-nose-eyes-mouth": tuple(range(17, 68)),
    "nose-eyes": tuple(range(27, 48)),
    "nose-eye-corners-brows": tuple(range(27, 36)) + (36, 39, 42, 45, 17, 21, 22, 26),
    "all": tuple(range(68)),
}


def mirror_names(names) -> np.ndarray:
    """Index permutation that swaps each ...Left name with its ...Right twin."""
    names = list(names)
    out = []
    for n in names:
        twin = n.replace("Left", "\0").replace("Right", "Left").replace("\0", "Right")
        out.append(names.index(twin) if twin in names else names.index(n))
    return np.array(out)


def mirrored(data: dict) -> dict:
    """The same samples seen in a mirror: x flips, yaw and roll change sign, left and right
    swap (points and names). dlib on a mirrored image is close to its mirrored output."""
    res = float(data["resolution"])
    out = dict(data)
    for key in ("dlib", "truth", "calib_dlib", "calib_truth"):
        pts = data[key][:, MIRROR].copy()
        pts[..., 0] = res - pts[..., 0]
        out[key] = pts
    for key in ("pose", "calib_pose"):
        p = data[key].copy()
        p[:, 0] *= -1
        p[:, 2] *= -1
        out[key] = p
    out["expression"] = data["expression"][:, mirror_names(data["names"])]
    return out


def projection_matrix(pose, resolution: int, focal: float) -> np.ndarray:
    """3x4 pixel projection of the orbit camera at `pose` (yaw, pitch, roll)."""
    from core.state import OrbitPose
    from core.tracking.pose import camera_matrix

    cam = OrbitPose(*(float(v) for v in pose)).to_camera()
    return camera_matrix(resolution, resolution, focal) @ np.linalg.inv(cam.cam2world)[:3]


def triangulate_template(points: np.ndarray, poses: np.ndarray, resolution: int, focal: float) -> np.ndarray:
    """Least-squares 3D position of each landmark over many views with known cameras
    (the linear triangulation), made symmetric about x = 0."""
    mats = [projection_matrix(p, resolution, focal) for p in poses]
    out = np.zeros((68, 3))
    for j in range(68):
        rows = []
        for m, pts in zip(mats, points):
            x, y = pts[j]
            rows += [x * m[2] - m[0], y * m[2] - m[1]]
        a = np.array(rows)
        out[j], *_ = np.linalg.lstsq(a[:, :3], -a[:, 3], rcond=None)
    mirror = out[MIRROR] * np.array([-1.0, 1.0, 1.0])
    return 0.5 * (out + mirror)


def rotation_error_deg(fit_rotation: np.ndarray, pose) -> float:
    """Angle of the rotation between a fitted head -> camera rotation and the truth."""
    truth = rotation_from_orbit_angles(HeadPose(*(float(v) for v in pose)))  # cam2world
    c = (np.trace(fit_rotation @ truth) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def sample_features(model: FaceModel, points: np.ndarray, resolution: int, focal: float,
                    references: np.ndarray | None = None):
    """Regressor features, fitted (PnP) angles and rotations for many samples (NaN rows
    where a sample's landmarks are missing or the fit fails). `references`: one
    reference face per sample (calibrated), or None for the template."""
    n = len(points)
    feats = np.full((n, 68 * 2 + 3), np.nan)
    rotations = np.full((n, 3, 3), np.nan)
    for i in range(n):
        if not np.all(np.isfinite(points[i])):
            continue
        ref = None if references is None else references[i]
        try:
            fit = model.fit_pose(points[i], resolution, resolution, focal, ref)
        except ValueError:
            continue
        feats[i] = model.features(points[i], fit, resolution, resolution, focal, ref)
        rotations[i] = fit.rotation
    return feats, np.degrees(feats[:, -3:]), rotations


def refined_rotation_errors(model: FaceModel, feats: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rotation error (degrees) of the fitted angles plus the model's correction."""
    poses = np.degrees(feats[:, -3:]) + model.predict_pose_correction(feats)
    return np.array([rotation_error_deg(rotation_from_orbit_angles(HeadPose(*p)).T, t) for p, t in zip(poses, truth)])


def train_mlp(x: np.ndarray, y: np.ndarray, hidden=(256, 256), epochs: int = 100, batch: int = 256,
              lr: float = 2e-3, weight_decay: float = 1e-2, dropout: float = 0.3, loss: str = "clipped_l1",
              seed: int = 0):
    """MLP weights [(W, b)] for a ReLU network (dropout between layers while training).

    Loss "clipped_l1", for weights: the absolute error (the figure that counts, and it
    keeps unsure outputs at zero rather than spreading small values over every name),
    except that an output past 0 for a target of 0 (or past 1 for 1) costs nothing,
    since it is clipped anyway. "huber": smooth L1, so an odd failed fit does not
    dominate. Regularised hard: the heads are few and dlib's points are noisy, and a
    lightly regularised net learns the training heads instead of the expressions."""
    import torch

    torch.manual_seed(seed)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    dims = [x.shape[1], *hidden, y.shape[1]]
    layers = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU(), torch.nn.Dropout(dropout)]
    net = torch.nn.Sequential(*layers[:-2])
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for k in range(0, len(xt), batch):
            idx = order[k:k + batch]
            out, t = net(xt[idx]), yt[idx]
            if loss in ("clipped_l1", "clipped_mse"):
                free = ((t <= 0) & (out < 0)) | ((t >= 1) & (out > 1))
                err = (out - t).abs() if loss == "clipped_l1" else (out - t) ** 2
                value = torch.where(free, torch.zeros_like(out), err).mean()
            elif loss == "huber":
                value = torch.nn.functional.smooth_l1_loss(out, t, beta=0.1)
            else:
                raise ValueError(f"unknown loss {loss!r}")
            opt.zero_grad()
            value.backward()
            opt.step()
        sched.step()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    return [(m.weight.detach().numpy().T.astype(np.float64), m.bias.detach().numpy().astype(np.float64))
            for m in linears]


def fit_face_model(data: dict, focal: float = DEFAULT_FOCAL, holdout_fraction: float = 0.15,
                   hidden=(256, 256), epochs: int = 100, log=print, expression_loss: str = "clipped_l1",
                   dropout: float = 0.3, weight_decay: float = 1e-2, pose_dropout: float = 0.1,
                   pose_weight_decay: float = 1e-3, pose_hidden=None, command: str | None = None) -> FaceModel:
    names = tuple(str(n) for n in data["names"])
    res = int(data["resolution"])
    seeds = np.unique(data["identity"])
    held = set(seeds[int(round(len(seeds) * (1 - holdout_fraction))):].tolist())
    is_train = np.array([s not in held for s in data["identity"]])
    calib_train = np.array([s not in held for s in data["calib_identity"]])
    both = [data, mirrored(data)]

    # the template, from neutral training views (and calibration frames) with landmarks
    pts, poses = [], []
    for d in both:
        neutral = is_train & ~np.any(d["expression"] > 0, axis=1) & np.isfinite(d["dlib"][:, 0, 0])
        ok_cal = calib_train & np.isfinite(d["calib_dlib"][:, 0, 0])
        pts += [d["dlib"][neutral], d["calib_dlib"][ok_cal]]
        poses += [d["pose"][neutral], d["calib_pose"][ok_cal]]
    template = triangulate_template(np.concatenate(pts), np.concatenate(poses), res, focal)
    log(f"template from {sum(len(p) for p in pts)} neutral views")

    # the pose points: the candidate set that fits the training heads best
    found = np.isfinite(data["dlib"][:, 0, 0])
    scores = {}
    for key, idx in POSE_POINT_SETS.items():
        model = FaceModel(template, idx, names)
        sel = np.nonzero(is_train & found)[0]
        _, _, rot = sample_features(model, data["dlib"][sel], res, focal)
        err = [rotation_error_deg(r, p) for r, p in zip(rot, data["pose"][sel]) if np.all(np.isfinite(r))]
        scores[key] = float(np.median(err))
        log(f"pose points {key}: median rotation error {scores[key]:.2f} deg (training heads)")
    best = min(scores, key=scores.get)
    model = FaceModel(template, POSE_POINT_SETS[best], names)

    # features against the template and against each head's calibrated neutral face
    xs, ys, poses, fitted, parts = [], [], [], [], []
    for d in both:
        ref_by_seed = {}
        for s, p in zip(d["calib_identity"], d["calib_dlib"]):
            if np.all(np.isfinite(p)):
                ref_by_seed[s] = model.calibrate(p, res, res, focal)
        x_unc, a_unc, _ = sample_features(model, d["dlib"], res, focal)
        has_ref = np.array([s in ref_by_seed for s in d["identity"]])
        refs = np.stack([ref_by_seed.get(s, template) for s in d["identity"]])
        x_cal, a_cal, _ = sample_features(model, d["dlib"], res, focal, refs)
        x_cal[~has_ref] = np.nan
        xs += [x_unc, x_cal]
        fitted += [a_unc, a_cal]
        ys += [d["expression"], d["expression"]]
        poses += [d["pose"], d["pose"]]
        parts += [np.zeros(len(x_unc), int), np.ones(len(x_cal), int)]
    x, y, part = np.concatenate(xs), np.concatenate(ys), np.concatenate(parts)
    truth, fitted = np.concatenate(poses), np.concatenate(fitted)
    residual = truth - fitted
    residual[:, 0] = (residual[:, 0] + 180.0) % 360.0 - 180.0
    train_rows = np.concatenate([is_train] * 4)
    ok = np.all(np.isfinite(x), axis=1)
    fit_rows = ok & train_rows
    model.feature_mean = x[fit_rows].mean(0)
    model.feature_std = x[fit_rows].std(0) + 1e-6
    xn = (x[fit_rows] - model.feature_mean) / model.feature_std
    t0 = time.time()
    model.expression_layers = train_mlp(xn, y[fit_rows], hidden, epochs, loss=expression_loss, dropout=dropout,
                                        weight_decay=weight_decay)
    pose_hidden = tuple(pose_hidden or hidden)
    # the pose is always fitted to the template (FaceModel.estimate): its refiner learns from those fits only
    pose_rows = (part[fit_rows] == 0)
    model.pose_layers = train_mlp(xn[pose_rows], residual[fit_rows][pose_rows] / POSE_OUTPUT_SCALE, pose_hidden, epochs,
                                  loss="huber", seed=1,
                                  dropout=pose_dropout, weight_decay=pose_weight_decay)
    log(f"regressors: {fit_rows.sum()} samples, hidden {hidden}, {epochs} epochs, {time.time() - t0:.0f} s")

    # held-out heads (not mirrored): how well it does where it was not fitted
    held_rows = ok & ~train_rows
    held_rows[2 * len(data["identity"]):] = False  # the mirrored copies
    figures = {}
    for label, p in (("uncalibrated", 0), ("calibrated", 1)):
        rows = held_rows & (part == p)
        err = np.abs(model.predict_expression(x[rows]) - y[rows])
        pose_rows = held_rows & (part == 0)   # poses come from the template fit either way
        fitted_err = [rotation_error_deg(rotation_from_orbit_angles(HeadPose(*a)).T, t)
                      for a, t in zip(fitted[pose_rows], truth[pose_rows])]
        refined_err = refined_rotation_errors(model, x[pose_rows], truth[pose_rows])
        figures[label] = {"samples": int(rows.sum()), "mean_abs_expression_error": float(err.mean()),
                          "median_rotation_error_deg_fitted": float(np.median(fitted_err)),
                          "median_rotation_error_deg_refined": float(np.median(refined_err)),
                          "zero_baseline_expression_error": float(np.abs(y[rows]).mean()),
                          "per_name": {n: round(float(e), 4) for n, e in zip(names, err.mean(0))}}
        log(f"held-out heads, {label}: expression error {err.mean():.4f} (answering 0: {np.abs(y[rows]).mean():.4f}), rotation error "
            f"{np.median(fitted_err):.2f} deg fitted, {np.median(refined_err):.2f} refined ({rows.sum()} samples)")
    model.metadata = {
        "command": command or "python -m training.tracking_regressor --out assets/face_tracker.safetensors",
        "expression_loss": expression_loss,
        "regularisation": {"expression": {"dropout": dropout, "weight_decay": weight_decay},
                           "pose": {"dropout": pose_dropout, "weight_decay": pose_weight_decay}},
        "pose_point_set": best,
        "hidden": list(hidden),
        "pose_hidden": list(pose_hidden),
        "epochs": epochs,
        "training_heads": int(len(seeds) - len(held)),
        "held_out_heads": int(len(held)),
        "samples": int(len(data["identity"])),
        "resolution": res,
        "focal": focal,
        "held_out": figures,
        "features": "offsets of the 68 landmarks from the reference face in the head's frontal plane "
                    "(template eye-corner distance units, x then y per point) + fitted yaw, pitch, roll (radians)",
    }
    return model


def main(argv=None) -> int:
    import argparse

    from training.tracking_data import load_shards, write_shards

    ap = argparse.ArgumentParser(description="train the face tracker's template and expression regressor")
    ap.add_argument("--out", default=str(FACE_MODEL_FILE))
    ap.add_argument("--data", default="runs/tracking/train", help="landmark shards (rendered here when missing)")
    ap.add_argument("--first-seed", type=int, default=500_000)
    ap.add_argument("--identities", type=int, default=320)
    ap.add_argument("--views", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--hidden", default="256,256")
    ap.add_argument("--loss", choices=("clipped_l1", "clipped_mse"), default="clipped_l1", help="expression loss")
    ap.add_argument("--dropout", type=float, default=0.3, help="expression MLP")
    ap.add_argument("--weight-decay", type=float, default=1e-2, help="expression MLP")
    ap.add_argument("--pose-dropout", type=float, default=0.1)
    ap.add_argument("--pose-weight-decay", type=float, default=1e-3)
    ap.add_argument("--existing-shards", action="store_true",
                    help="train on every shard already in --data and render none (shards may come from several runs)")
    args = ap.parse_args(argv)
    import shlex
    import sys

    command = "python -m training.tracking_regressor " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    if args.existing_shards:
        from training.tracking_data import existing_shards

        paths = existing_shards(args.data)
    else:
        paths = write_shards(args.data, args.first_seed, args.identities, args.views)
    data = load_shards(paths)
    hidden = tuple(int(h) for h in args.hidden.split(",") if h)
    model = fit_face_model(data, hidden=hidden, epochs=args.epochs, expression_loss=args.loss, dropout=args.dropout,
                           weight_decay=args.weight_decay, pose_dropout=args.pose_dropout,
                           pose_weight_decay=args.pose_weight_decay, command=command)
    model.save(args.out)
    print(json.dumps(model.metadata["held_out"], indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
