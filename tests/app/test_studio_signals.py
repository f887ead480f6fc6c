"""Ctrl-C / SIGTERM close the studio with one line and 130 / 143, during start-up and once
it runs (bad-input campaign: SIGTERM at start-up printed a KeyboardInterrupt traceback from
a Qt slot and the studio kept running until killed)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_closes_the_studio_with_one_line(tmp_path, sig):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT), HOME=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-m", "cli", "studio"], cwd=tmp_path, env=env, stderr=subprocess.PIPE,
                         text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # wait until the studio has installed its handlers (SIGTERM caught, /proc SigCgt): a signal
    # before that meets the OS / Python default, whatever the load makes start-up take
    deadline = time.time() + 150
    while time.time() < deadline and p.poll() is None:
        status = Path(f"/proc/{p.pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            break
        time.sleep(0.1)
    else:
        p.kill()
        pytest.fail("the studio never installed its signal handlers")
    p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("the studio kept running after the signal")
    assert p.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip() and "propagateSizeHints" not in line][-1:] == \
        [f"avatar-studio: {'terminated' if sig == signal.SIGTERM else 'interrupted'}"]
