"""Atomic writes: the file appears whole or not at all, with the permissions a plain write gives."""
import os
import stat

import pytest

from core.fileio import atomic_write_bytes


@pytest.fixture
def umask():
    """Set the process umask for one test, then put it back."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="checks POSIX permission bits and the umask, which Windows does not have")
def test_new_files_get_the_umask_permissions_and_overwrites_keep_their_mode(tmp_path, umask):
    umask(0o022)
    atomic_write_bytes(tmp_path / "shared.json", b"{}")
    assert mode_of(tmp_path / "shared.json") == 0o644
    umask(0o077)
    atomic_write_bytes(tmp_path / "private.json", b"{}")
    assert mode_of(tmp_path / "private.json") == 0o600
    umask(0o022)
    kept = tmp_path / "kept.json"
    kept.write_bytes(b"old")
    os.chmod(kept, 0o640)
    atomic_write_bytes(kept, b"new")
    assert kept.read_bytes() == b"new" and mode_of(kept) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json", "private.json", "shared.json"]
