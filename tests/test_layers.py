"""The layers of docs/design.md hold: import-linter's contracts (pyproject.toml) over the code,
and a contract that is broken is caught (a kernel module that imports a daemon's)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    return subprocess.run([exe, "--config", str(root / "pyproject.toml")], capture_output=True, text=True,
                          cwd=root, env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(root)},
                          timeout=300)


def test_the_layering_contracts_are_kept() -> None:
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_a_kernel_module_that_imports_a_daemon_breaks_them(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "shoal", tmp_path / "shoal", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    rmem = tmp_path / "shoal" / "kernel" / "rmem.py"
    rmem.write_text(rmem.read_text() + "\nfrom shoal.daemons import node  # noqa: E402,F401\n")
    r = lint(tmp_path)
    assert r.returncode != 0 and "shoal.kernel is not allowed to import shoal.daemons" in r.stdout, r.stdout
