"""SIGTERM during a command cleans up like Ctrl-C (bad-input campaign: a terminated
export left its hidden temporary file beside the output): one line, exit 143, and the
command's clean-up (finally / except BaseException in the atomic writers) runs."""
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = r"""
import os, signal, sys, time
import cli

class Slow:
    @staticmethod
    def run(args):
        tmp = open(".out.png.partial.tmp", "wb")
        try:
            tmp.write(b"half")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
            return 0
        finally:
            tmp.close()
            os.unlink(".out.png.partial.tmp")

cli._command = lambda name: Slow
sys.exit(cli.main(["render", "--seed", "1", "--out", "out.png"]))
"""


def test_sigterm_runs_the_commands_clean_up_and_is_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", PROGRAM], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 128 + signal.SIGTERM, (p.returncode, p.stderr)
    assert list(tmp_path.iterdir()) == []  # the partial file went with the clean-up
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "terminated" in lines[0] and "Traceback" not in p.stderr
