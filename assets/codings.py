"""The optional coding of an asset type (system, code, display): what FHIR's Device.type carries.

SNOMED CT is the expected system (http://snomed.info/sct). Its concept ids have a checkable form:
6 to 18 digits, no leading zero, partition identifier "00" or "10" (a concept) in the second and
third digits from the right, and a Verhoeff check digit last. We check that form, not a terminology
server: a well-formed id can still name the wrong concept (docs/fhir.md lists the ones we chose).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

SNOMED_CT = "http://snomed.info/sct"
MAX_SYSTEM, MAX_CODE, MAX_DISPLAY = 200, 64, 200

_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_valid(digits: str) -> bool:
    check = 0
    for position, digit in enumerate(reversed(digits)):
        check = _D[check][_P[position % 8][int(digit)]]
    return check == 0


def snomed_concept_id_problem(code: str) -> str | None:
    """Why ``code`` is not a well-formed SNOMED CT concept id, or None when it is."""
    if not (code.isdecimal() and code.isascii()) or not 6 <= len(code) <= 18 or code.startswith("0"):
        return _("SNOMED CT code %(code)s is not a concept id (6 to 18 digits, no leading zero)") % {"code": repr(code)}
    if code[-3:-1] not in ("00", "10"):
        return _(
            "SNOMED CT code %(code)s is not a concept id (its partition identifier is %(partition)s, not 00 or 10)"
        ) % {"code": repr(code), "partition": code[-3:-1]}
    if not verhoeff_valid(code):
        return _("SNOMED CT code %(code)s has a wrong check digit (Verhoeff): a typo?") % {"code": repr(code)}
    return None


def type_coding_problems(*, system: str, code: str, display: str) -> dict[str, str]:
    """{field: problem} for an asset type's coding; all three blank (no coding) is fine."""
    system, code, display = system.strip(), code.strip(), display.strip()
    problems: dict[str, str] = {}
    if not (system or code or display):
        return problems
    if not system:
        problems["code_system"] = _("give the code system too (e.g. http://snomed.info/sct)")
    elif ":" not in system or " " in system:
        problems["code_system"] = _("%(system)s is not a URI (e.g. http://snomed.info/sct)") % {"system": repr(system)}
    if not code:
        problems["code"] = _("give the code too, or leave system and display blank")
    elif " " in code:
        problems["code"] = _("code %(code)s contains spaces") % {"code": repr(code)}
    elif system == SNOMED_CT:
        problem = snomed_concept_id_problem(code)
        if problem:
            problems["code"] = problem
    for name, value, limit in (
        ("code_system", system, MAX_SYSTEM),
        ("code", code, MAX_CODE),
        ("code_display", display, MAX_DISPLAY),
    ):
        if len(value) > limit:
            problems[name] = _("longer than %(limit)s characters") % {"limit": limit}
    return problems
