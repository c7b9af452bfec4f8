"""Everything a person sees is Chinese: every message is translated and each compiled catalogue is current.

The project catalogue is ``locale/``; a package may keep its own in ``<package>/locale/`` (Django
reads both), so work on different packages does not fight over one file.
"""

from pathlib import Path

import polib
import pytest
from django.utils import translation

ROOT = Path(__file__).resolve().parents[1]
CATALOGUES = sorted(
    path
    for path in ROOT.glob("**/locale/zh_Hans/LC_MESSAGES/django.po")
    if not {".venv", "var", "node_modules"} & set(path.relative_to(ROOT).parts)
)


def test_the_project_catalogue_is_found():
    assert ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po" in CATALOGUES


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_message_has_a_chinese_translation(po_path: Path):
    po = polib.pofile(str(po_path))
    untranslated = [entry.msgid for entry in po if not entry.msgstr and not entry.obsolete]
    fuzzy = [entry.msgid for entry in po if "fuzzy" in entry.flags]
    assert untranslated == [] and fuzzy == []


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_compiled_catalogue_matches_the_source(po_path: Path):
    po = polib.pofile(str(po_path))
    mo = polib.mofile(str(po_path.with_suffix(".mo")))
    compiled = {entry.msgid: entry.msgstr for entry in mo}
    source = {entry.msgid: entry.msgstr for entry in po if not entry.obsolete}
    assert source == {k: v for k, v in compiled.items() if k}, f"run: msgfmt -o {po_path.with_suffix('.mo')} {po_path}"


def test_the_platform_speaks_chinese():
    with translation.override("zh-hans"):
        assert translation.gettext("This field is required.") == "此项为必填项。"
