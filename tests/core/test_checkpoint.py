import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from core.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_info, save_checkpoint
from core.model.config import ModelConfig


def one_line(e):
    text = str(e.value)
    assert "\n" not in text
    return text


def test_round_trip_renders_identically(tiny_model, tiny_checkpoint):
    model, provenance = load_checkpoint(tiny_checkpoint)
    assert provenance == {"note": "random tiny model for tests"}
    assert model.cfg == tiny_model.cfg
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    info = read_checkpoint_info(tiny_checkpoint)
    assert info["config"]["expression_names"] == list(tiny_model.cfg.expression_names)


def test_missing_and_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no such file") as e:
        load_checkpoint(tmp_path / "nope.safetensors")
    assert str(tmp_path) in one_line(e)
    with pytest.raises(CheckpointError, match="folder"):
        load_checkpoint(tmp_path)


def test_truncated_file(tiny_checkpoint, tmp_path):
    data = tiny_checkpoint.read_bytes()
    for cut in (4, 100, len(data) // 2, len(data) - 7):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(bad)
        assert bad.name in one_line(e)


def test_corrupt_bytes(tiny_checkpoint, tmp_path):
    bad = tmp_path / "garbage.safetensors"
    bad.write_bytes(b"\x00\xffnot a checkpoint at all" * 50)
    with pytest.raises(CheckpointError, match="corrupt or truncated") as e:
        load_checkpoint(bad)
    one_line(e)
    # a damaged header length
    data = bytearray(tiny_checkpoint.read_bytes())
    data[:8] = struct.pack("<Q", 10**12)
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)


class _LeavesAMark:
    """Unpickling this creates a file: the proof that a loader ran the pickle."""

    def __init__(self, mark):
        self.mark = str(mark)

    def __reduce__(self):
        return (open, (self.mark, "w"))


def test_pickle_is_never_loaded(tmp_path):
    bad = tmp_path / "model.safetensors"
    mark = tmp_path / "unpickled"
    # a pickle zip under a safetensors name whose unpickling leaves a file behind: a loader
    # that unpickled it and only then refused it would still fail here
    import pickle

    for write in (lambda: torch.save({"w": torch.zeros(2), "x": _LeavesAMark(mark)}, bad),  # torch's zip
                  lambda: bad.write_bytes(pickle.dumps({"x": _LeavesAMark(mark)}))):      # a bare pickle
        write()
        with pytest.raises(CheckpointError, match="corrupt or truncated"):
            load_checkpoint(bad)
        with pytest.raises(CheckpointError):
            read_checkpoint_info(bad)
        assert not mark.exists(), "the checkpoint loader unpickled the file"


def test_foreign_safetensors(tmp_path):
    foreign = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, str(foreign))
    with pytest.raises(CheckpointError, match="not an Avatar Studio head model") as e:
        load_checkpoint(foreign)
    one_line(e)


def rewrite_meta(src, dst, **changes):
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta.update(changes)
    save_file(tensors, str(dst), metadata=meta)
    return tensors, meta


def test_mismatched_config_and_weights(tiny_checkpoint, tmp_path):
    cfg = json.loads(rewrite_meta(tiny_checkpoint, tmp_path / "x.safetensors")[1]["config"])
    cfg["decoder_hidden"] = 32
    bad = tmp_path / "mismatch.safetensors"
    rewrite_meta(tiny_checkpoint, bad, config=json.dumps(cfg))
    with pytest.raises(CheckpointError, match="has shape") as e:
        load_checkpoint(bad)
    assert "mismatch.safetensors" in one_line(e)


@pytest.mark.parametrize("config,message", [
    ("{broken", "not valid JSON"),
    (json.dumps({"latent_dim": -4}), "invalid model config"),
    (json.dumps({"expression_names": ["notAShape"]}), "invalid model config"),
    (json.dumps({"flux_capacitor": 1}), "unknown model config key"),
])
def test_invalid_config(tiny_checkpoint, tmp_path, config, message):
    bad = tmp_path / "cfg.safetensors"
    rewrite_meta(tiny_checkpoint, bad, config=config)
    with pytest.raises(CheckpointError, match=message) as e:
        load_checkpoint(bad)
    one_line(e)


def test_newer_format_and_nan_weights(tiny_checkpoint, tmp_path):
    bad = tmp_path / "future.safetensors"
    rewrite_meta(tiny_checkpoint, bad, version="99")
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(bad)
    tensors, meta = rewrite_meta(tiny_checkpoint, bad)
    tensors["decoder.out.bias"][0] = float("nan")
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(bad)


def test_save_is_atomic(tiny_model, tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save_checkpoint(tiny_model, path)
    save_checkpoint(tiny_model, path)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    before = path.read_bytes()

    # interrupted in the middle of the write (half the bytes out, then Ctrl-C): the old
    # checkpoint is untouched and still loads, and no partial file is left beside it
    import core.fileio

    real_fdopen = core.fileio.os.fdopen

    class HalfThenInterrupt:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise KeyboardInterrupt

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(core.fileio.os, "fdopen", lambda *a, **k: HalfThenInterrupt(real_fdopen(*a, **k)))
    other = type(tiny_model)(tiny_model.cfg)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(other, path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    assert path.read_bytes() == before
    load_checkpoint(path)
