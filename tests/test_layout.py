"""The test command collects every test file: testpaths must name each test folder exactly once."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {".venv", "var", "node_modules", ".git"}


def _testpaths() -> list[Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [ROOT / entry for entry in config["tool"]["pytest"]["ini_options"]["testpaths"]]


def test_no_testpath_sits_inside_another():
    # pytest then collects only the inner folder: a parent listed next to its own subfolder once
    # silently dropped every test of the parent.
    paths = _testpaths()
    nested = [(a, b) for a in paths for b in paths if a != b and b.is_relative_to(a)]
    assert nested == []


def test_every_test_file_is_under_a_testpath():
    paths = _testpaths()
    files = [
        path
        for path in ROOT.rglob("test_*.py")
        if not SKIPPED & set(path.relative_to(ROOT).parts) and path.parent.name != "benchmarks"
    ]
    missing = [str(f.relative_to(ROOT)) for f in files if not any(f.is_relative_to(p) for p in paths)]
    assert files and missing == []
