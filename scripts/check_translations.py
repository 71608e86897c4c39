"""`make lint`'s translation check (docs/translating.md). Exits 1, naming each problem, when:

- a string marked for translation in the code, templates or map JavaScript is missing from a shipped
  catalogue (locale/<lang>/LC_MESSAGES/django.po or djangojs.po), or the catalogue still lists a string
  the code no longer has: the .po files are out of date, run `make messages`;
- a string of a shipped language is untranslated (empty msgstr) or fuzzy;
- msgfmt --check refuses a catalogue (for example a %(name)s placeholder missing from a translation).

It extracts the strings the way `makemessages` does, in a temporary copy of the sources, so the working
tree is never touched. Needs GNU gettext (xgettext, msgmerge, msgfmt), like makemessages itself.

    .venv/bin/python scripts/check_translations.py            # every language under locale/
    .venv/bin/python scripts/check_translations.py --po FILE  # only the completeness check of one file
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = ("django", "djangojs")
# The same exclusions as `make messages`: tests, benchmarks and docs mark nothing for users.
IGNORE = ("tests/*", "benchmarks/*", "docs/*", "staticfiles/*", "node_modules/*", "scripts/*")


def makemessages_args(domain: str, language: str) -> list[str]:
    args = ["makemessages", "-l", language, "-d", domain, "--no-location", "--no-obsolete"]
    for pattern in IGNORE:
        args += ["--ignore", pattern]
    return args


def untranslated(po: polib.POFile) -> list[str]:
    """Entries a user of this language would see in English: empty, partly empty (plurals) or fuzzy."""
    problems = []
    for entry in po:
        if entry.obsolete:
            continue
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.msgid!r}")
        elif entry.msgid_plural:
            if not entry.msgstr_plural or not all(entry.msgstr_plural.values()):
                problems.append(f"untranslated (plural): {entry.msgid!r}")
        elif not entry.msgstr:
            problems.append(f"untranslated: {entry.msgid!r}")
    return problems


def msgids(po: polib.POFile) -> set[tuple[str, str, str]]:
    return {(entry.msgctxt or "", entry.msgid, entry.msgid_plural or "") for entry in po if not entry.obsolete}


def tracked_sources(destination: Path) -> None:
    """Copy the files git tracks (and untracked, not ignored ones) into ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        source = ROOT / raw.decode()
        if not source.is_file():
            continue  # deleted in the working tree
        target = destination / raw.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def fresh_catalogues(languages: list[str]) -> dict[tuple[str, str], polib.POFile]:
    """Run makemessages in a temporary copy of the sources; the copy's .po files as makemessages left them."""
    with tempfile.TemporaryDirectory(prefix="check-translations-") as tmp:
        copy = Path(tmp)
        tracked_sources(copy)
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
        env.setdefault("SECRET_KEY", "check-translations")
        for language in languages:
            for domain in DOMAINS:
                subprocess.run(
                    [sys.executable, "manage.py", *makemessages_args(domain, language)],
                    cwd=copy,
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
        return {
            (language, domain): polib.pofile(str(copy / "locale" / language / "LC_MESSAGES" / f"{domain}.po"))
            for language in languages
            for domain in DOMAINS
            if (copy / "locale" / language / "LC_MESSAGES" / f"{domain}.po").exists()
        }


def msgfmt_problems(path: Path) -> list[str]:
    result = subprocess.run(
        ["msgfmt", "--check", "--output-file", os.devnull, str(path)], capture_output=True, text=True
    )
    return [] if result.returncode == 0 else [line for line in result.stderr.splitlines() if line.strip()]


def check(languages: list[str]) -> list[str]:
    problems: list[str] = []
    fresh = fresh_catalogues(languages)
    for language in languages:
        for domain in DOMAINS:
            path = ROOT / "locale" / language / "LC_MESSAGES" / f"{domain}.po"
            name = path.relative_to(ROOT)
            if not path.exists():
                problems.append(f"{name}: missing; run `make messages` and translate it")
                continue
            shipped = polib.pofile(str(path))
            expected = fresh.get((language, domain))
            if expected is not None:
                for ctxt, msgid, _plural in sorted(msgids(expected) - msgids(shipped)):
                    where = f" (context {ctxt!r})" if ctxt else ""
                    problems.append(f"{name}: marked in the code but missing: {msgid!r}{where}; run `make messages`")
                for _ctxt, msgid, _plural in sorted(msgids(shipped) - msgids(expected)):
                    problems.append(f"{name}: no longer in the code: {msgid!r}; run `make messages`")
            problems += [f"{name}: {problem}" for problem in untranslated(shipped)]
            problems += [f"{name}: msgfmt: {line}" for line in msgfmt_problems(path)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--po", type=Path, help="only check that this one .po file is completely translated")
    options = parser.parse_args(argv)
    if options.po:
        problems = [f"{options.po}: {p}" for p in untranslated(polib.pofile(str(options.po)))]
    else:
        if not shutil.which("msgfmt") or not shutil.which("xgettext"):
            print("GNU gettext is missing (xgettext, msgfmt): apt-get install gettext", file=sys.stderr)
            return 2
        languages = sorted(p.name for p in (ROOT / "locale").iterdir() if (p / "LC_MESSAGES").is_dir())
        problems = check(languages)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} translation problem(s): see docs/translating.md", file=sys.stderr)
        return 1
    print("translations: every marked string is in the catalogues and translated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
