"""The layer contracts in pyproject.toml ([tool.importlinter], docs/architecture.md) hold:
core/ and training/ import no Qt, app, cli or main; render/ no Qt; only app/ (and the
studio launcher) is a GUI room; cli sits on top. A violation, direct or through a chain of
imports, fails here with import-linter's report naming the import."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_layer_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.exists(), "import-linter is a dev dependency: bash scripts/setup.sh"
    # --no-cache: no stale cache can hide an import, and nothing is written into the checkout
    p = subprocess.run([str(lint), "--no-cache", "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    report = p.stdout + p.stderr
    broken = [line for line in report.splitlines() if "BROKEN" in line or " -> " in line]
    assert p.returncode == 0, "layer contract broken:\n" + "\n".join(broken or report.splitlines()[-30:])
    for contract in ("core and training are headless", "render draws with moderngl", "Only app is a GUI room",
                     "Layers: cli, bench, app"):
        assert contract in report, f"contract {contract!r} was not checked:\n{report}"
    assert " 0 broken" in report
