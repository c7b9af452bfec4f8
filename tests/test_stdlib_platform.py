"""The project package sits in platform/ without an __init__.py so it never shadows the stdlib."""

import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_platform_is_the_standard_library():
    import platform

    assert hasattr(platform, "python_version")
    assert Path(platform.__file__).parent != ROOT / "platform"
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_import_platform_from_the_project_root_in_a_fresh_interpreter():
    # The project root is on sys.path first when a command runs from the checkout.
    code = "import platform, uuid, celery; print(platform.python_version())"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == platform_version()


def platform_version() -> str:
    return importlib.import_module("platform").python_version()


def test_weasyprint_imports_next_to_the_project():
    result = subprocess.run(
        [sys.executable, "-c", "import weasyprint; print(weasyprint.__version__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
