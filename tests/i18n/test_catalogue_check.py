"""scripts/check_translations.py, which `make lint` runs: an untranslated or fuzzy string of a shipped language
fails it, and the Spanish that ships passes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polib
from django.conf import settings

SCRIPT = Path(settings.BASE_DIR) / "scripts" / "check_translations.py"


def checker():
    spec = importlib.util.spec_from_file_location("check_translations", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_untranslated_fuzzy_and_half_translated_plurals_are_each_named(tmp_path):
    po = polib.POFile()
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Plural-Forms": "nplurals=2; plural=(n != 1);"}
    po.append(polib.POEntry(msgid="Available", msgstr="Disponible"))
    po.append(polib.POEntry(msgid="Soiled", msgstr=""))
    po.append(polib.POEntry(msgid="Cleaning", msgstr="Limpiando", flags=["fuzzy"]))
    po.append(polib.POEntry(msgid="%s item", msgid_plural="%s items", msgstr_plural={0: "%s equipo", 1: ""}))
    po.append(polib.POEntry(msgid="Gone", msgstr="", obsolete=True))
    path = tmp_path / "django.po"
    po.save(str(path))

    check = checker()
    assert check.untranslated(polib.pofile(str(path))) == [
        "untranslated: 'Soiled'",
        "fuzzy: 'Cleaning'",
        "untranslated (plural): '%s item'",
    ]
    assert check.main(["--po", str(path)]) == 1


def test_the_shipped_spanish_is_complete():
    check = checker()
    for domain in ("django", "djangojs"):
        path = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES" / f"{domain}.po"
        catalogue = polib.pofile(str(path))
        assert len(catalogue) > 50
        assert check.untranslated(catalogue) == [], domain
        assert check.main(["--po", str(path)]) == 0
