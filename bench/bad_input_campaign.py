"""Bad-input campaign: builds bad files in a temporary folder, runs the real commands on
them, and checks what the README promises for every case:

- exit code 2 (bad input) / non-zero (a signal), and nothing else on stderr than ONE line
  (tqdm progress bars are dropped before counting) which names the file or flag;
- no traceback on stdout or stderr;
- no lost file: every file that was in the case's folder before the run is still there with
  the same bytes; and nothing half-written: no new file is left (except the ones a case
  allows, e.g. the checkpoint a SIGTERM'd training saves on purpose).

    python -m bench.bad_input_campaign [--md docs/bad-inputs.md] [--json OUT.json]
                                       [--cli "avatar-studio"] [--only SUBSTRING]

--cli runs another install (a fresh venv's `avatar-studio`, the desktop bundle's
executable); by default this checkout's CLI (`python -m cli`, or `-m core.cli` before the
"CLI on top" move) with the checkout on PYTHONPATH. The campaign imports the project only
to write valid files it then breaks; the commands run as separate processes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import re
import resource
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "assets" / "default_head.safetensors"
PROGRESS = re.compile(r"\d+%\||^This plugin does not support propagateSizeHints\(\)$")  # a tqdm progress
# bar, and the one warning Qt's offscreen platform (used for the studio rows) prints about itself


@dataclass
class Case:
    group: str
    input: str                      # what is bad, in words
    args: list | Callable           # CLI args (after the program), or fn(folder) -> args
    setup: Callable | None = None   # fn(folder): write the bad files
    names: str = ""                 # the one line must contain this (the file or the flag)
    rc: tuple = (2,)
    signal: int | None = None       # send this once the trigger fires
    trigger: str = "newfile"        # newfile: a new entry appears in the folder; or "SECONDS"
    allowed_new: tuple = ()         # file names (regex) a run may leave (e.g. a checkpoint saved on SIGTERM)
    python: bool = False            # args are a python -c program (the studio's session loader)
    fsize: int | None = None        # RLIMIT_FSIZE in bytes (disk full)
    env: dict = field(default_factory=dict)
    timeout: float = 300.0
    extended: bool = False          # only with --all (the default run is the core set)


# ---------------------------------------------------------------------------- bad files
def write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def st_header(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def st_write(path: Path, header: dict, body: bytes) -> None:
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    write(path, struct.pack("<Q", len(h)) + h + body)


def model_variant(change: Callable[[dict], None]):
    """A copy of the bundled model whose safetensors header `change` edits."""
    def make(d: Path, name="m.safetensors"):
        header, body = st_header(MODEL)
        change(header)
        st_write(d / name, header, body)
    return make


def config_change(**kv):
    def change(header):
        cfg = json.loads(header["__metadata__"]["config"])
        cfg.update(kv)
        header["__metadata__"]["config"] = json.dumps(cfg)
    return model_variant(change)


class Pwn:  # a pickle that would leave a file behind if anything unpickled it
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def good_state() -> dict:
    """A valid state written by the project itself (128-D latent: the bundled model's)."""
    import numpy as np

    from core.identity import Identity
    from core.state import AvatarState

    return AvatarState(Identity(np.random.default_rng(3).normal(size=128) * 0.5, 3, 0.7, "campaign")).to_json()


def state_edit(fn, name="s.json"):
    def make(d: Path):
        s = good_state()
        fn(s)
        write(d / name, json.dumps(s))
    return make


def state_with(**parts):
    def make(d: Path, name="s.json"):
        s = good_state()
        for k, v in parts.items():
            if v is DELETE:
                s.pop(k, None)
            else:
                s[k] = v
        write(d / name, json.dumps(s))
    return make


DELETE = object()


def text(name: str, content):
    def make(d: Path):
        write(d / name, content)
    return make


def nested(n=100000):
    return "[" * n + "]" * n


def png_claiming(width: int, height: int) -> bytes:
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def good_timeline(d: Path, name="t.json", change=None):
    s = good_state()
    data = {"keyframes": [{"time": 0.0, "state": s}, {"time": 1.0, "state": s}]}
    if change:
        change(data)
    write(d / name, json.dumps(data))


def session(d: Path, name="sess.json", change=None):
    from app.session import SESSION_FORMAT, SESSION_VERSION

    data = {"format": SESSION_FORMAT, "version": SESSION_VERSION, "state": good_state(), "model": str(MODEL)}
    if change:
        change(data)
    write(d / name, json.dumps(data))


def read_session_program(name="sess.json") -> list:
    # the loader File > Open and `avatar-studio --session` use; its ValueError is the dialog's one line
    return ["-c", "import sys\nfrom app.session import read_session\ntry:\n    read_session(sys.argv[1])\n"
            "except ValueError as e:\n    print('dialog: ' + str(e).splitlines()[0], file=sys.stderr); sys.exit(2)\n"
            "print('opened')", name]


BASE_DATASET: Path | None = None


def dataset(change=None, files=None):
    """A copy of the small synthetic dataset, edited: change(data) on dataset.json,
    files(folder) on the files."""
    def make(d: Path):
        shutil.copytree(BASE_DATASET, d / "ds")
        if change:
            p = d / "ds" / "dataset.json"
            data = json.loads(p.read_text())
            change(data)
            p.write_text(json.dumps(data))
        if files:
            files(d / "ds")
    return make


TINY_MODEL = {"latent_dim": 16, "w_dim": 32, "mapping_layers": 2, "expression_dim": 8,
              "synthesis_channels": [32, 32, 16], "plane_resolution": 16, "plane_channels": 8,
              "decoder_hidden": 16, "shading_features": 4, "shading_hidden": 8, "superres_channels": 8,
              "density_grid_resolution": 16}
TINY_TRAIN = {"steps": 400, "batch": 1, "neural_resolution": 16, "checkpoint_every": 1, "log_every": 0,
              "sample_every": 0, "model": TINY_MODEL}


def train_config(**kv):
    cfg = dict(TINY_TRAIN)
    cfg.update(kv)
    return text("cfg.json", json.dumps(cfg))


def both(*makers):
    def make(d: Path):
        for m in makers:
            m(d)
    return make


def video_file(d: Path, name="clip.mp4", frames=3):
    import imageio.v2 as imageio
    import numpy as np

    with imageio.get_writer(d / name, fps=5) as w:
        for i in range(frames):
            w.append_data(np.full((64, 64, 3), min(255, 25 * i), np.uint8))


def truncated_video(d: Path):
    video_file(d, "full.mp4", frames=10)
    raw = (d / "full.mp4").read_bytes()
    (d / "full.mp4").unlink()
    write(d / "clip.mp4", raw[: len(raw) // 3])


def precious(name="out.png"):
    """An existing output that a failed or interrupted run must leave as it was."""
    return text(name, b"PRECIOUS " + os.urandom(64))


# -------------------------------------------------------------------------------- cases
def cases() -> list[Case]:
    C = []
    R = ["render", "--seed", "1", "--res", "64", "--quality", "preview"]

    # models (--model) -------------------------------------------------------------------
    bad_models = [
        ("missing file", None, "nope.safetensors"),
        ("empty file", text("m.safetensors", b""), "m.safetensors"),
        ("truncated (first 1 MB)", lambda d: write(d / "m.safetensors", MODEL.read_bytes()[:1 << 20]), "m.safetensors"),
        ("random bytes", text("m.safetensors", os.urandom(4096)), "m.safetensors"),
        ("pickle payload named .safetensors", text("m.safetensors", pickle.dumps(Pwn())), "m.safetensors"),
        ("pickle payload named .pt", text("m.pt", pickle.dumps(Pwn())), "m.pt"),
        ("torch.save zip", lambda d: __import__("torch").save({"w": __import__("torch").zeros(3)}, d / "m.pt"), "m.pt"),
        ("JSON text named .safetensors", text("m.safetensors", '{"a": 1}'), "m.safetensors"),
        ("header length 2^60", lambda d: write(d / "m.safetensors", struct.pack("<Q", 1 << 60) + b"{}"), "m.safetensors"),
        ("header not JSON", lambda d: write(d / "m.safetensors", struct.pack("<Q", 16) + b"{not json}xxxxxx"), "m.safetensors"),
        ("a folder", lambda d: (d / "m.safetensors").mkdir(), "m.safetensors"),
        ("foreign safetensors (no metadata)", lambda d: st_write(d / "m.safetensors", {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8), "m.safetensors"),
        ("format: another program", model_variant(lambda h: h["__metadata__"].update(format="someone/else")), "m.safetensors"),
        ("version from the future", model_variant(lambda h: h["__metadata__"].update(version="99")), "m.safetensors"),
        ("config not JSON", model_variant(lambda h: h["__metadata__"].update(config="{oops")), "m.safetensors"),
        ("config plane_resolution 10^6 (TB to allocate)", config_change(plane_resolution=10 ** 6), "m.safetensors"),
        ("config synthesis_channels [10^6]*5", config_change(synthesis_channels=[10 ** 6] * 5), "m.safetensors"),
        ("config latent_dim \"128\" (string)", config_change(latent_dim="128"), "m.safetensors"),
        ("config latent_dim -1", config_change(latent_dim=-1), "m.safetensors"),
        ("config expression_names a number", config_change(expression_names=7), "m.safetensors"),
        ("config coarse_samples NaN", lambda d: model_variant(lambda h: h["__metadata__"].update(
            config=h["__metadata__"]["config"].replace('"coarse_samples": 48', '"coarse_samples": NaN')))(d), "m.safetensors"),
        ("a tensor missing", model_variant(lambda h: h.pop("decoder.out.weight")), "m.safetensors"),
        ("a tensor with the wrong shape", model_variant(lambda h: h["decoder.out.weight"].update(shape=[64, 15])), "m.safetensors"),
        ("a tensor's offsets past the end", model_variant(lambda h: h["decoder.out.weight"].update(data_offsets=[8508, 10 ** 12])), "m.safetensors"),
        ("dtype F16 over F32 data", model_variant(lambda h: h["decoder.out.weight"].update(dtype="F16")), "m.safetensors"),
    ]
    for what, make, name in bad_models:
        C.append(Case("model", what, R + ["--model", name, "--out", "out.png"], both(precious(), make) if make else precious(), name))
    for cmd in (["export-mesh", "--grid", "64", "--out", "out.glb"],
                ["export-video", "--frames", "2", "--res", "32", "--out", "out.mp4"],
                ["bench", "--repeats", "1", "--resolutions", "16"],
                ["studio"]):
        C.append(Case("model", "truncated model", cmd + ["--model", "m.safetensors"],
                      lambda d: write(d / "m.safetensors", MODEL.read_bytes()[:1 << 20]), "m.safetensors",
                      env={"QT_QPA_PLATFORM": "offscreen"} if cmd == ["studio"] else {}))
    C.append(Case("studio", "no display (DISPLAY, WAYLAND_DISPLAY, QT_QPA_PLATFORM unset)", ["studio"], None,
                  "no display", env={"DISPLAY": "", "WAYLAND_DISPLAY": "", "QT_QPA_PLATFORM": ""}))

    # states (--state) and avatars (--avatar) ---------------------------------------------
    bad_states = [
        ("missing file", None),
        ("not JSON", text("s.json", "{identity: 1")),
        ("empty file", text("s.json", "")),
        ("invalid UTF-8", text("s.json", b"\xff\xfe\xfa{}")),
        ("a JSON list", text("s.json", "[1, 2]")),
        ("nested 100000 deep", text("s.json", nested())),
        ("a folder", lambda d: (d / "s.json").mkdir()),
        ("camera is a list", state_with(camera=[0, 0, 2.7])),
        ("identity seed is a string", state_edit(lambda s: s["identity"].update(seed="three"))),
        ("identity latent of 5 numbers", state_edit(lambda s: s["identity"].update(latent=[0.1] * 5))),
        ("identity missing", state_with(identity=DELETE)),
        ("unknown expression name", state_with(expression={"values": {"noSuchName": 0.5}})),
        ("expression value NaN", lambda d: write(d / "s.json", json.dumps(dict(good_state(), expression={"values": {"jawOpen": float("nan")}})))),
        ("expression value \"lots\"", state_with(expression={"values": {"jawOpen": "lots"}})),
        ("lighting SH 1e308", state_with(lighting={"sh": [[1e308] * 3] * 9})),
        ("lighting SH 8x3", state_with(lighting={"sh": [[0.1] * 3] * 8})),
        ("camera yaw Infinity", lambda d: write(d / "s.json", json.dumps(dict(good_state(), camera={"yaw": float("inf")})))),
        ("camera radius -1", state_with(camera={"radius": -1})),
        ("render resolution 10^9", state_with(render={"resolution": 10 ** 9})),
        ("version 99 (future)", state_with(version=99)),
        ("version \"1\"", state_with(version="1")),
        ("format another program's", state_with(format="other/thing")),
    ]
    for what, make in bad_states:
        C.append(Case("state", what, R[:1] + ["--state", "s.json", "--res", "64", "--out", "out.png"],
                      both(precious(), make) if make else precious(), "s.json"))
    for what, make in bad_states[1:4] + bad_states[7:9]:
        C.append(Case("avatar", what, ["render", "--avatar", "s.json", "--res", "64", "--out", "out.png"],
                      both(precious(), make), "s.json"))

    # lighting (--light) --------------------------------------------------------------------
    bad_lights = [
        ("unknown preset name", None, "no-such-preset", "no-such-preset"),
        ("missing JSON", None, "l.json", "l.json"),
        ("JSON not JSON", text("l.json", "sh = 1"), "l.json", "l.json"),
        ("JSON list", text("l.json", "[]"), "l.json", "l.json"),
        ("sh 8x3", text("l.json", json.dumps({"sh": [[0.1] * 3] * 8})), "l.json", "l.json"),
        ("sh strings", text("l.json", json.dumps({"sh": [["a"] * 3] * 9})), "l.json", "l.json"),
        ("sh NaN", text("l.json", '{"sh": [' + ",".join(["[NaN, 0, 0]"] * 9) + "]}"), "l.json", "l.json"),
        ("sh 1e308", text("l.json", json.dumps({"sh": [[1e308] * 3] * 9})), "l.json", "l.json"),
        ("nested 100000 deep", text("l.json", nested()), "l.json", "l.json"),
        ("env map: empty .hdr", text("e.hdr", b""), "e.hdr", "e.hdr"),
        ("env map: text named .png", text("e.png", "not an image"), "e.png", "e.png"),
        ("env map: truncated PNG", lambda d: write(d / "e.png", (ROOT / "resources" / "avatar-studio.png").read_bytes()[:300]), "e.png", "e.png"),
        ("env map: PNG claiming 100000x100000", text("e.png", png_claiming(100000, 100000)), "e.png", "e.png"),
        ("env map: a folder", lambda d: (d / "e.png").mkdir(), "e.png", "e.png"),
    ]
    for what, make, spec, name in bad_lights:
        C.append(Case("lighting", what, R + ["--light", spec, "--out", "out.png"],
                      both(precious(), make) if make else precious(), name))

    # timelines (export-video --path) -------------------------------------------------------
    V = ["export-video", "--frames", "2", "--res", "32", "--quality", "preview", "--out", "out.mp4"]
    bad_timelines = [
        ("missing file", None),
        ("not JSON", text("t.json", "keyframes:")),
        ("one keyframe", lambda d: good_timeline(d, change=lambda t: t["keyframes"].pop())),
        ("keyframes an object", lambda d: good_timeline(d, change=lambda t: t.update(keyframes={"a": 1}))),
        ("times decrease", lambda d: good_timeline(d, change=lambda t: t["keyframes"][1].update(time=-1))),
        ("time NaN", lambda d: good_timeline(d, change=lambda t: t["keyframes"][1].update(time=float("nan")))),
        ("time Infinity", lambda d: good_timeline(d, change=lambda t: t["keyframes"][1].update(time=float("inf")))),
        ("time \"soon\"", lambda d: good_timeline(d, change=lambda t: t["keyframes"][1].update(time="soon"))),
        ("a keyframe's state broken", lambda d: good_timeline(d, change=lambda t: t["keyframes"][1].update(state={"camera": []}))),
        ("a keyframe is a number", lambda d: good_timeline(d, change=lambda t: t["keyframes"].__setitem__(1, 5))),
        ("nested 100000 deep", text("t.json", nested())),
    ]
    for what, make in bad_timelines:
        C.append(Case("timeline", what, V + ["--path", "t.json"], both(precious("out.mp4"), make) if make else precious("out.mp4"), "t.json"))

    # sessions (the studio's loader) --------------------------------------------------------
    bad_sessions = [
        ("missing file", None),
        ("not JSON", text("sess.json", "{")),
        ("nested 100000 deep", text("sess.json", nested())),
        ("not a session (a state)", state_with()),
        ("camera a list", lambda d: session(d, change=lambda s: s["state"].update(camera=[1, 2]))),
        ("identity seed a string", lambda d: session(d, change=lambda s: s["state"]["identity"].update(seed="x"))),
        ("model key a number", lambda d: session(d, change=lambda s: s.update(model=5))),
        ("identity panel seed 1.5", lambda d: session(d, change=lambda s: s.update(identity_panel={"seed": 1.5}))),
        ("version 99", lambda d: session(d, change=lambda s: s.update(version=99))),
        ("no state", lambda d: session(d, change=lambda s: s.pop("state"))),
    ]
    for what, make in bad_sessions:
        if what == "not a session (a state)":
            make = lambda d: state_with()(d, "sess.json")  # noqa: E731
        C.append(Case("session", what, read_session_program(), make, "sess.json", python=True))

    # datasets (train/eval --data) ----------------------------------------------------------
    T = ["train", "--config", "cfg.json", "--out", "run"]
    bad_data = [
        ("missing folder", None),
        ("no dataset.json", dataset(files=lambda p: (p / "dataset.json").unlink())),
        ("dataset.json not JSON", dataset(files=lambda p: (p / "dataset.json").write_text("{"))),
        ("dataset.json a list", dataset(files=lambda p: (p / "dataset.json").write_text("[]"))),
        ("labels an object", dataset(change=lambda j: j.update(labels={"a": 1}))),
        ("no labels", dataset(change=lambda j: j.update(labels=[]))),
        ("a label of 24 numbers", dataset(change=lambda j: j["labels"][0].__setitem__(1, j["labels"][0][1][:24]))),
        ("a label with NaN", dataset(change=lambda j: j["labels"][0][1].__setitem__(3, float("nan")))),
        ("a label pointing to ../x.png", dataset(change=lambda j: j["labels"][0].__setitem__(0, "../x.png"))),
        ("a label with an absolute path", dataset(change=lambda j: j["labels"][0].__setitem__(0, "/etc/passwd"))),
        ("an image missing", dataset(files=lambda p: sorted((p / "images").iterdir())[0].unlink())),
        ("an image corrupt", dataset(files=lambda p: sorted((p / "images").iterdir())[0].write_bytes(b"junk"))),
        ("an image of another size", dataset(files=lambda p: __import__("imageio.v2").v2.imwrite(
            sorted((p / "images").iterdir())[0], __import__("numpy").zeros((20, 30, 3), "uint8")))),
        ("nested 100000 deep", dataset(files=lambda p: (p / "dataset.json").write_text(nested()))),
    ]
    for what, make in bad_data:
        C.append(Case("dataset", what, T + ["--data", "ds"], both(train_config(), make) if make else train_config(),
                      "ds", allowed_new=(r"^run$",)))
    for what, make in bad_data[2:3] + bad_data[8:10]:
        C.append(Case("dataset", what, ["eval", "--data", "ds", "--max-samples", "1"], make, "ds"))

    # training configs and checkpoints -----------------------------------------------------
    bad_configs = [
        ("config not JSON", text("cfg.json", "{steps: 1}")),
        ("steps -5", train_config(steps=-5)),
        ("batch 0", train_config(batch=0)),
        ("steps \"many\"", train_config(steps="many")),
        ("unknown key", train_config(stepz=3)),
        ("model plane_resolution 10^6", train_config(model=dict(TINY_MODEL, plane_resolution=10 ** 6))),
        ("lr NaN", lambda d: write(d / "cfg.json", json.dumps(dict(TINY_TRAIN, lr=float("nan"))))),
        ("init: a missing model", train_config(init="nope.safetensors")),
    ]
    for what, make in bad_configs:
        C.append(Case("train config", what, T + ["--data", "ds"], both(dataset(), make),
                      "nope.safetensors" if "init" in what else "cfg.json", allowed_new=(r"^run$",)))
    C.append(Case("train config", "--set steps=abc", T + ["--data", "ds", "--set", "steps=abc"],
                  both(dataset(), train_config()), "steps", allowed_new=(r"^run$",)))
    C.append(Case("train config", "--set nokey=1", T + ["--data", "ds", "--set", "nokey=1"],
                  both(dataset(), train_config()), "nokey", allowed_new=(r"^run$",)))

    def run_dir(files):
        def make(d):
            (d / "run").mkdir()
            files(d / "run")
        return make
    bad_ckpts = [
        ("checkpoint truncated", run_dir(lambda r: write(r / "checkpoint.safetensors", MODEL.read_bytes()[:5000]))),
        ("checkpoint is a pickle", run_dir(lambda r: write(r / "checkpoint.safetensors", pickle.dumps(Pwn())))),
        ("checkpoint is the head model (no training state)", run_dir(lambda r: shutil.copy(MODEL, r / "checkpoint.safetensors"))),
        ("no checkpoint in the run folder", run_dir(lambda r: None)),
    ]
    for what, make in bad_ckpts:
        C.append(Case("checkpoint", what, T + ["--data", "ds", "--resume"], both(dataset(), train_config(), make), "run"))
    C.append(Case("checkpoint", "train without --resume into an existing run",
                  T + ["--data", "ds"], both(dataset(), train_config(), run_dir(lambda r: shutil.copy(MODEL, r / "checkpoint.safetensors"))),
                  "run"))
    C.append(Case("checkpoint", "eval of a truncated model", ["eval", "--model", "m.safetensors", "--data", "ds"],
                  both(dataset(), lambda d: write(d / "m.safetensors", MODEL.read_bytes()[:5000])), "m.safetensors"))

    # images and videos (reenact --source) -------------------------------------------------
    RE = ["reenact", "--res", "32", "--out", "out.mp4", "--source"]
    bad_sources = [
        ("missing video", None, "clip.mp4"),
        ("empty .mp4", text("clip.mp4", b""), "clip.mp4"),
        ("text named .mp4", text("clip.mp4", "hello"), "clip.mp4"),
        ("truncated .mp4", truncated_video, "clip.mp4"),
        ("empty image folder", lambda d: (d / "frames").mkdir(), "frames"),
        ("folder of corrupt images", lambda d: [write(d / "frames" / f"{i}.png", b"junk") for i in range(3)], "frames"),
        ("a corrupt .png as the source", text("face.png", "junk"), "face.png"),
        ("ARKit CSV with junk", text("blend.csv", "Timecode,BlendshapeCount,JawOpen\nx,y,z\n"), "blend.csv"),
        ("webcam 7 (none there)", None, "7"),
    ]
    for what, make, spec in bad_sources:
        C.append(Case("image/video", what, RE + [spec], both(precious("out.mp4"), make) if make else precious("out.mp4"), spec))

    # outputs -------------------------------------------------------------------------------
    C.append(Case("output", "--out is a folder", R + ["--out", "o"], lambda d: (d / "o").mkdir(), "--out"))
    C.append(Case("output", "--out under a file", R + ["--out", "f/x.png"], text("f", "x"), "--out"))
    C.append(Case("output", "--passes is a file", R + ["--passes", "p", "--out", "out.png"], both(precious(), text("p", "x")), "--passes"))
    C.append(Case("output", "--out .txt (unknown type)", R + ["--out", "out.txt"], precious("out.txt"), "out.txt"))
    C.append(Case("output", "export-mesh --out .stl (unknown type)", ["export-mesh", "--grid", "64", "--out", "h.stl"], None, "h.stl"))
    C.append(Case("output", "synth --out is a file", ["synth", "--identities", "1", "--views-per-identity", "1", "--out", "f"], text("f", "x"), "--out"))
    C.append(Case("output", "synth into a folder with a foreign dataset.json",
                  ["synth", "--identities", "1", "--views-per-identity", "1", "--res", "32", "--out", "ds"],
                  text("ds/dataset.json", '{"labels": [["other/a.png", []]], "mine": true}'), "ds"))
    for what, cmd, keep in (
            ("render, disk full (64 KB file limit)", R + ["--out", "out.png"], "out.png"),
            ("export-mesh .obj textured, disk full", ["export-mesh", "--grid", "64", "--texture", "256", "--out", "out.obj"], "out.obj"),
            ("export-video, disk full", V[:-2] + ["--frames", "12", "--out", "out.mp4"], "out.mp4"),
            ("bench --json, disk full", ["bench", "--repeats", "1", "--resolutions", "16", "--json", "out.json"], "out.json")):
        C.append(Case("output", what, cmd, both(precious(keep)), keep, fsize=0 if "bench" in what else 2))

    # numbers and flags (checked before any work) -----------------------------------------
    for flags, name in ((["--res", "0"], "--res"), (["--res", "100000"], "--res"), (["--yaw", "nan"], "--yaw"),
                        (["--fov", "0"], "--fov"), (["--fov", "180"], "--fov"), (["--pitch", "inf"], "--pitch"),
                        (["--expr", "jawOpen=nan"], "jawOpen"), (["--expr", "noSuch=1"], "noSuch"),
                        (["--expr", "jawOpen"], "jawOpen"), (["--truncation", "1e6"], "--truncation"),
                        (["--seed", "-1"], "--seed"), (["--seed", "1e400"], "--seed"), (["--device", "tpu"], "tpu"),
                        (["--device", "cuda"], "cuda")):
        C.append(Case("flags", " ".join(flags), R + flags + ["--out", "out.png"], precious(), name))
    for cmd, name in ((["export-video", "--frames", "0", "--out", "v.mp4"], "--frames"),
                      (["export-video", "--frames", "-3", "--out", "v.mp4"], "--frames"),
                      (["export-video", "--res", "100000", "--out", "v.mp4"], "--res"),
                      (["export-video", "--fps", "inf", "--out", "v.mp4"], "--fps"),
                      (["export-video", "--passes", "rgb,nope", "--out", "v.mp4"], "nope"),
                      (["export-mesh", "--grid", "100000", "--out", "m.glb"], "--grid"),
                      (["export-mesh", "--texture", "100000", "--out", "m.glb"], "--texture"),
                      (["export-mesh", "--faces", "-3", "--out", "m.glb"], "--faces"),
                      (["export-mesh", "--smooth", "-1", "--out", "m.glb"], "--smooth"),
                      (["synth", "--identities", "0", "--views-per-identity", "1", "--out", "s"], "--identities"),
                      (["synth", "--identities", "1", "--views-per-identity", "-1", "--out", "s"], "--views-per-identity"),
                      (["synth", "--identities", "1", "--views-per-identity", "1", "--res", "100000", "--out", "s"], "--res"),
                      (["synth", "--identities", "2", "--views-per-identity", "1", "--shard", "5/2", "--out", "s"], "--shard"),
                      (["bench", "--repeats", "0"], "--repeats"),
                      (["bench", "--resolutions", "0"], "--resolutions"),
                      (["eval", "--data", "ds", "--max-samples", "-1"], "--max-samples"),
                      (["reenact", "--source", "x.mp4", "--res", "0", "--out", "r.mp4"], "--res"),
                      (["render"], "--out"),
                      (["no-such-command"], "no-such-command")):
        C.append(Case("flags", " ".join(cmd[:3]) + ("" if len(cmd) <= 3 else " ..."), cmd, None, name))

    # signals during writes ---------------------------------------------------------------
    for sig, rcs in ((signal.SIGINT, (130,)), (signal.SIGTERM, (130, 143))):
        sname = signal.Signals(sig).name
        C.append(Case("signal", f"{sname} during export-video over an existing out.mp4",
                      ["export-video", "--frames", "48", "--res", "64", "--quality", "preview", "--out", "out.mp4"],
                      precious("out.mp4"), "", rc=rcs, signal=sig))
        C.append(Case("signal", f"{sname} during export-mesh .obj (textured) over an existing one",
                      ["export-mesh", "--grid", "128", "--texture", "512", "--out", "out.obj"],
                      precious("out.obj"), "", rc=rcs, signal=sig, trigger="6"))
        C.append(Case("signal", f"{sname} during render --passes over existing passes",
                      ["render", "--seed", "2", "--res", "1024", "--passes", "p", "--out", "out.png"],
                      both(precious(), precious("p/rgb.png")), "", rc=rcs, signal=sig, trigger="handler"))
        C.append(Case("signal", f"{sname} during synth",
                      ["synth", "--identities", "3", "--views-per-identity", "2", "--res", "64", "--out", "ds"],
                      None, "", rc=rcs, signal=sig, trigger="newfile",
                      allowed_new=(r"^ds(/images(/\d+_\d+\.png)?|/dataset\.json|/parts(/.*)?)?$",)))
        C.append(Case("signal", f"{sname} during train (saves a checkpoint on purpose)",
                      T + ["--data", "ds"], both(dataset(), train_config()), "", rc=(0, 130, 143), signal=sig, trigger="12",
                      allowed_new=(r"^run(/(checkpoint|model)\.safetensors|/config\.json|/train_config\.json|/tb(/.*)?|/samples(/.*)?|/[^/]+\.json)?$",)))
        C.append(Case("signal", f"{sname} during studio start-up",
                      ["studio"], None, "", rc=rcs + (0,), signal=sig, trigger="handler", env={"QT_QPA_PLATFORM": "offscreen"},
                      allowed_new=(r".*autosave.*", r"^\.config(/.*)?$", r"^\.cache(/.*)?$", r"^\.local(/.*)?$")))
    # the core set (default run) keeps every kind of file and failure; --all adds variants
    extended_inputs = {
        "random bytes", "JSON text named .safetensors", "header not JSON", "a folder", "format: another program",
        "version from the future", "config latent_dim -1", "config expression_names a number",
        "config coarse_samples NaN", "a tensor's offsets past the end", "torch.save zip",
        "empty file", "invalid UTF-8", "a JSON list", "identity missing", "expression value \"lots\"",
        "lighting SH 8x3", "camera radius -1", "version \"1\"", "format another program's",
        "JSON list", "sh strings", "env map: a folder", "env map: truncated PNG", "keyframes an object",
        "time \"soon\"", "a keyframe is a number", "dataset.json a list", "labels an object",
        "an image of another size", "steps \"many\"", "unknown key", "lr NaN", "--set nokey=1",
        "no checkpoint in the run folder", "empty image folder", "ARKit CSV with junk", "webcam 7 (none there)",
        "--out under a file", "--out .txt (unknown type)", "synth --out is a file",
    }
    for c in C:
        if c.group in ("avatar",) and c.input not in ("not JSON", "camera is a list"):
            c.extended = True
        elif c.group == "model" and c.input == "truncated model" and c.args[0] in ("bench", "export-video"):
            c.extended = True
        elif c.group == "flags":
            c.extended = c.input not in ("--yaw nan", "--fov 0", "--expr noSuch=1", "--truncation 1e6",
                                         "export-video --fps inf", "export-mesh --grid 100000 ...",
                                         "bench --resolutions 0", "eval --data ds ...", "no-such-command")
        elif c.group == "dataset" and c.args[0] == "eval" and "../" not in c.input:
            c.extended = True
        elif c.input in extended_inputs and c.group != "session":
            c.extended = True
    return C


# ------------------------------------------------------------------------------- runner
def snapshot(d: Path) -> dict:
    out = {}
    for p in sorted(d.rglob("*")):
        rel = p.relative_to(d).as_posix()
        out[rel] = hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def stderr_lines(text_: str) -> list[str]:
    lines = []
    for line in re.split(r"[\r\n]+", text_):
        line = line.strip()
        if line and not PROGRESS.search(line):
            lines.append(line)
    return lines


def run_case(case: Case, cli: list, d: Path) -> dict:
    if case.setup:
        case.setup(d)
    before = snapshot(d)
    args = case.args(d) if callable(case.args) else list(case.args)
    argv = [sys.executable] + args if case.python else cli + args
    home = d.parent / f"{d.name}-home"  # the user's folders (caches, ~/.imageio) live outside the checked folder
    home.mkdir(exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_CACHE_HOME=str(home / ".cache"), XDG_DATA_HOME=str(home / ".local"), **case.env)
    env.pop("TINY_FSIZE", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")

    def limits():
        os.nice(10)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a campaign started with & would pass SIGINT ignored
        if case.fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (case.fsize * 1024, case.fsize * 1024))

    t0 = time.time()
    proc = subprocess.Popen(argv, cwd=d, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", preexec_fn=limits)
    sent = False
    if case.signal:
        while proc.poll() is None and time.time() - t0 < case.timeout:
            if case.trigger == "newfile":
                fire = any(k not in before for k in snapshot_names(d))
            elif case.trigger == "handler":  # the program's own SIGTERM handler is in (its code runs)
                fire = handler_installed(proc.pid)
            else:
                fire = time.time() - t0 > float(case.trigger)
            if fire:
                time.sleep(0.3)
                proc.send_signal(case.signal)
                sent = True
                break
            time.sleep(0.05)
    try:
        out, err = proc.communicate(timeout=case.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    seconds = time.time() - t0
    after = snapshot(d)
    problems = []
    lines = stderr_lines(err)
    if proc.returncode not in case.rc:
        problems.append(f"exit {proc.returncode}, want {'/'.join(map(str, case.rc))}")
    if "Traceback" in err or "Traceback" in out:
        problems.append("traceback")
    if case.signal is None and len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines")
    if case.signal is not None and len(lines) > 1:
        problems.append(f"{len(lines)} stderr lines")
    if case.signal is not None and not sent:
        problems.append("finished before the signal")
    if case.names and lines and case.names not in lines[0]:
        problems.append(f"line does not name {case.names}")
    lost = [k for k, v in before.items() if after.get(k) != v]
    if lost:
        problems.append("changed/lost: " + ", ".join(lost[:3]))
    new = [k for k in after if k not in before and not any(re.search(a, k) for a in case.allowed_new)]
    new = [k for k in new if not any(k.startswith(n + "/") for n in new)]  # a new folder's contents once
    if new:
        problems.append("left behind: " + ", ".join(new[:3]))
    if "PWNED" in after:
        problems.append("UNPICKLED")
    return {"group": case.group, "input": case.input,
            "command": " ".join(shlex.quote(a) for a in (["python"] + args[:1] + ["(app.session.read_session)"] if case.python else ["avatar-studio"] + args)),
            "signal": signal.Signals(case.signal).name if case.signal else "",
            "exit": proc.returncode, "line": (lines[0] if lines else "")[:160], "lines": len(lines),
            "seconds": round(seconds, 1), "ok": not problems, "problems": problems}


def handler_installed(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def snapshot_names(d: Path):
    try:
        return [p.relative_to(d).as_posix() for p in d.rglob("*")]
    except FileNotFoundError:  # a temp file vanished while listing
        return []


def default_cli() -> list:
    mod = "cli" if (ROOT / "cli" / "__init__.py").exists() else "core.cli"
    return [sys.executable, "-m", mod]


FINDINGS = """## What the campaign found, and the fixes (each with a test that failed before it)

| found | fix | test |
|---|---|---|
| a model whose config has a string size (`latent_dim: "128"`) or 10^6 synthesis channels: traceback from inside the constructor (the channels would have allocated TBs) | `ModelConfig` checks every field's type (as its default's), finiteness and an upper bound before anything is built | `tests/core/test_model_config_checks.py` |
| a state with SH coefficients of 1e308: exit 0, a NaN image written over the existing output, a RuntimeWarning | SH coefficients above 1e6 are refused (`SH_MAX`) | `tests/core/test_lighting_bounds.py` |
| an environment map whose PNG header claims 100000x100000: `cv2.error` traceback | `load_environment_map` turns OpenCV's error into one line naming the file | `tests/core/test_campaign_fixes.py` |
| timeline keyframe time NaN / Infinity: accepted, then "camera yaw must be a finite number" without the file | `load_timeline` refuses non-finite times naming the file and keyframe | `tests/core/test_campaign_fixes.py` |
| a `--state` / `--avatar` whose identity has the wrong latent size: the line did not name the file | `cli.common.state_from_args` checks it and names the file | `tests/test_cli_state_identity_size.py` |
| SIGTERM during any command: killed on the spot (exit -15), so no clean-up ran and a partial file being written stayed | `cli.main` turns SIGTERM into the Ctrl-C path while a command runs: clean-up runs, one line `terminated`, exit 143 | `tests/test_cli_sigterm.py` |
| `avatar-studio` (the studio) on a Linux machine with no display: SIGABRT from Qt with five lines of plugin help | one line naming the problem, exit 2 | `tests/app/test_studio_no_display.py` |
| (soak benchmark) PySide6 6.12.0 on Python 3.11 takes a reference from `None` on every void Qt call: the studio died with `Fatal Python error: none_dealloc` after ~7 minutes | `pyproject.toml` excludes PySide6-Essentials 6.12.0 (6.11.3 measured clean) | `tests/app/test_qt_binding_refcounts.py` |
"""


def markdown(results: list, cli: list) -> str:
    ok = sum(r["ok"] for r in results)
    md = ["# Bad-input campaign", "",
          "Made by `python -m bench.bad_input_campaign --md docs/bad-inputs.md` (re-run it after changes; it",
          "builds every bad file in a temporary folder, runs the real commands and checks each row).",
          f"Program: `{' '.join(Path(a).name if i == 0 else a for i, a in enumerate(cli))}`. "
          f"{len(results)} cases, {ok} pass, {len(results) - ok} fail.", "",
          "A row passes when: the exit code is 2 (bad input) or the signal's (130 for SIGINT; 130/143 for",
          "SIGTERM); stderr holds one line (progress bars aside) naming the file or flag; no traceback;",
          "every file in the folder before the run is unchanged (\"no lost file\"); and no new file is",
          "left (\"nothing half-written\"), except what a row allows (SIGTERM'd training saves its",
          "checkpoint on purpose). Session rows run the studio's loader (`app.session.read_session`,",
          "used by File > Open and `--session`): its one-line error is the studio's one dialog. Studio",
          "rows run on Qt's offscreen platform, whose own warning `This plugin does not support",
          "propagateSizeHints()` is not counted.", "",
          "| # | group | input | command | exit | stderr (first line) | result |",
          "|---|---|---|---|---|---|---|"]
    md[-2:-2] = [FINDINGS, "## The table", ""]
    for i, r in enumerate(results, 1):
        cmd = r["command"].replace("|", "\\|")
        if len(cmd) > 90:
            cmd = cmd[:87] + "..."
        what = r["input"] + (f" ({r['signal']})" if r["signal"] and r["signal"] not in r["input"] else "")
        line = r["line"].replace("|", "\\|").replace("`", "'")
        md.append(f"| {i} | {r['group']} | {what.replace('|', '/')} | `{cmd}` | {r['exit']} | {line} | "
                  f"{'ok' if r['ok'] else 'FAIL: ' + '; '.join(r['problems'])} |")
    return "\n".join(md) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--md", help="write the table (Markdown) here")
    ap.add_argument("--json", help="write the results as JSON here")
    ap.add_argument("--cli", help="the program to run, e.g. avatar-studio or a bundle's executable")
    ap.add_argument("--only", help="run only cases whose group or input contains this")
    ap.add_argument("--all", action="store_true", help="also the extended variants")
    ap.add_argument("--merge", help="results JSON of an earlier run: rows not re-run now are taken from it")
    ap.add_argument("--failed-in", help="re-run only the cases that failed in this results JSON")
    ap.add_argument("--jobs", type=int, default=1, help="cases run at once (each at nice 10)")
    args = ap.parse_args(argv)
    cli = shlex.split(args.cli) if args.cli else default_cli()
    global BASE_DATASET
    results = []
    with tempfile.TemporaryDirectory(prefix="bad-inputs-") as tmp:
        tmp = Path(tmp)
        BASE_DATASET = tmp / "base-dataset"
        subprocess.run(cli + ["synth", "--identities", "1", "--views-per-identity", "2", "--res", "32",
                              "--out", str(BASE_DATASET)], check=True, capture_output=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"))
        todo = [c for c in cases() if (args.all or not c.extended)
                and (not args.only or args.only in c.group or args.only in c.input)]
        if args.failed_in:
            failed = {(r["group"], r["input"], r["command"]) for r in json.loads(Path(args.failed_in).read_text())
                      if not r["ok"]}
            failed_keys = {(g, i) for g, i, _ in failed}
            todo = [c for c in todo if (c.group, c.input) in failed_keys]
        def one(i, case):
            d = tmp / f"case{i:03d}"
            d.mkdir()
            try:
                r = run_case(case, cli, d)
            except Exception as e:  # the campaign's own set-up failed: a row that says so
                r = {"group": case.group, "input": case.input, "command": str(case.args)[:80], "signal": "",
                     "exit": None, "line": "", "lines": 0, "seconds": 0, "ok": False,
                     "problems": [f"campaign set-up: {type(e).__name__}: {e}"]}
            print(f"{i:3d}/{len(todo)} {'ok  ' if r['ok'] else 'FAIL'} [{r['group']}] {r['input']}: exit {r['exit']} "
                  f"{r['seconds']}s {'; '.join(r['problems'])}  | {r['line'][:100]}", flush=True)
            shutil.rmtree(d, ignore_errors=True)
            shutil.rmtree(tmp / f"case{i:03d}-home", ignore_errors=True)
            return r

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            results = list(pool.map(one, range(1, len(todo) + 1), todo))
    if args.merge:  # the earlier run's rows, replaced by this run's where re-run
        fresh = {(r["group"], r["input"], r["command"]): r for r in results}
        earlier = json.loads(Path(args.merge).read_text())
        results = [fresh.pop((r["group"], r["input"], r["command"]), r) for r in earlier] + list(fresh.values())
    if args.md:
        Path(args.md).write_text(markdown(results, cli))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    bad = [r for r in results if not r["ok"]]
    print(f"{len(results) - len(bad)}/{len(results)} cases pass")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
