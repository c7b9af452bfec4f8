"""Everything a person sees is Chinese: every message is translated and the compiled catalogue is current."""

from pathlib import Path

import polib
from django.utils import translation

LOCALE = Path(__file__).resolve().parents[1] / "locale" / "zh_Hans" / "LC_MESSAGES"


def test_every_message_has_a_chinese_translation():
    po = polib.pofile(str(LOCALE / "django.po"))
    untranslated = [entry.msgid for entry in po if not entry.msgstr and not entry.obsolete]
    fuzzy = [entry.msgid for entry in po if "fuzzy" in entry.flags]
    assert untranslated == [] and fuzzy == []


def test_compiled_catalogue_matches_the_source():
    po = polib.pofile(str(LOCALE / "django.po"))
    mo = polib.mofile(str(LOCALE / "django.mo"))
    compiled = {entry.msgid: entry.msgstr for entry in mo}
    assert {entry.msgid: entry.msgstr for entry in po if not entry.obsolete} == {
        k: v for k, v in compiled.items() if k
    }, "run: python manage.py compilemessages -l zh_Hans"


def test_the_platform_speaks_chinese():
    with translation.override("zh-hans"):
        assert translation.gettext("This field is required.") == "此项为必填项。"
