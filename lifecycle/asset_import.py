"""The asset CSV import (``manage.py import_assets``, the admin's import page): assets, their tags, their
maintenance schedules (lifecycle.biomed.imports) and the change history, checked completely, then written in
one transaction. It writes lifecycle data, so it lives in the lifecycle app, above assets."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from assets.codings import type_coding_problems
from assets.models import IDENTITY_FIELDS, Asset, AssetType, Tag, asset_date_problem
from assets.services import tag_bind
from declarations.choices import EncryptionStatus, RiskClass
from declarations.states import AssetState
from declarations.tag_ids import TagIdError, format_tag_id, normalize_tag_id
from lifecycle.biomed.imports import SCHEDULE_COLUMNS, parse_schedule_columns, schedules_import
from lifecycle.decommissioning.models import DecommissioningChecklist
from lifecycle.exceptions import LifecycleError
from lifecycle.models import ChangeRecord

# ---------------------------------------------------------------------------------------------
# Asset CSV import (docs/architecture.md, Imports)

REQUIRED_COLUMNS = ("asset_tag", "asset_type", "tag_id", "manufacturer", "model", "serial_number")
BOOLEAN_COLUMNS = ("data_bearing", "networked")
DATE_COLUMNS = ("in_service_date", "purchase_date")
DAY_COUNT_COLUMNS = ()
TEXT_COLUMNS = ("unit", "firmware_version")
CHOICE_COLUMNS = {"encryption_status": EncryptionStatus, "risk_class": RiskClass}
# The asset type's optional coding (FHIR Device.type): blank leaves the type's coding as it is.
TYPE_CODING_COLUMNS = {"type_code_system": "code_system", "type_code": "code", "type_code_display": "code_display"}
OPTIONAL_COLUMNS = (
    *TEXT_COLUMNS,
    *BOOLEAN_COLUMNS,
    *CHOICE_COLUMNS,
    *DATE_COLUMNS,
    *SCHEDULE_COLUMNS,  # lifecycle.biomed.imports: <kind>_interval, <kind>_last_done; pm_interval_days, last_pm_date
    *TYPE_CODING_COLUMNS,
)
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "y", "1"}, {"false", "no", "n", "0"}
# The model fields' lengths: a longer value is a row error here, not a database error at the write.
MAX_LENGTHS = {
    "asset_tag": 64,
    "asset_type": 100,
    "manufacturer": 100,
    "model": 100,
    "serial_number": 100,
    "unit": 64,
    "firmware_version": 64,
}


def _row_label(line, asset_tag) -> str:
    return _("row %(line)s (asset_tag %(asset_tag)s)") % {"line": line, "asset_tag": asset_tag}


class AssetImportError(Exception):
    """The import was refused and nothing was written. ``errors`` names each row and problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(
            ngettext(
                "%(count)s problem in the asset file; nothing was imported",
                "%(count)s problems in the asset file; nothing was imported",
                len(errors),
            )
            % {"count": len(errors)}
        )


@dataclass
class AssetImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    asset_types_created: list[str] = field(default_factory=list)
    tags_registered: int = 0
    tags_bound: int = 0


@dataclass
class _Row:
    line: int
    asset_tag: str
    asset_type: str
    tag_id: str | None
    values: dict
    type_coding: dict | None = None  # {"code_system", "code", "code_display"} when the row gives one
    schedules: dict = field(default_factory=dict)


def _parse_row(raw: dict, line: int, present: set[str], problems: list[str]) -> _Row | None:
    def text(column):
        return (raw.get(column) or "").strip()

    for column, value in raw.items():
        if value and "\x00" in value:  # PostgreSQL stores no NUL character in text
            problems.append(_("%(column)s contains a NUL character") % {"column": column})
    for column in ("asset_tag", "asset_type", "manufacturer", "model"):
        if not text(column):
            problems.append(_("%(column)s is empty") % {"column": column})
    for column, limit in MAX_LENGTHS.items():
        if len(text(column)) > limit:
            problems.append(_("%(column)s is longer than %(limit)s characters") % {"column": column, "limit": limit})
    tag_id = None
    if text("tag_id"):
        try:
            tag_id = normalize_tag_id(text("tag_id"))
        except TagIdError:
            problems.append(
                _("tag id %(value)s is not 12 hexadecimal digits (like c3:00:00:00:01:0a)")
                % {"value": repr(text("tag_id"))}
            )
    values = {"manufacturer": text("manufacturer"), "model": text("model"), "serial_number": text("serial_number")}
    for column in TEXT_COLUMNS:
        if column in present:
            values[column] = text(column)
    for column in BOOLEAN_COLUMNS:
        word = text(column).lower()
        if column not in present or word == "":
            continue
        if word in TRUE_WORDS | FALSE_WORDS:
            values[column] = word in TRUE_WORDS
        else:
            problems.append(
                _("%(column)s %(value)s is not true/false") % {"column": column, "value": repr(text(column))}
            )
    for column, choices in CHOICE_COLUMNS.items():
        word = text(column).lower()
        if column not in present or word == "":
            continue
        if word in choices.values:
            values[column] = word
        else:
            problems.append(
                _("%(column)s %(value)s is not one of %(choices)s")
                % {"column": column, "value": repr(text(column)), "choices": ", ".join(choices.values)}
            )
    for column in DATE_COLUMNS:
        if column not in present:
            continue
        if not text(column):
            values[column] = None
            continue
        try:
            values[column] = date.fromisoformat(text(column))
        except ValueError:
            problems.append(
                _("%(column)s %(value)s is not a date (YYYY-MM-DD)") % {"column": column, "value": repr(text(column))}
            )
            continue
        problem = asset_date_problem(values[column])
        if problem:
            problems.append(f"{column}: {problem}")
    for column in DAY_COUNT_COLUMNS:
        if column not in present:
            continue
        raw_days = text(column)
        if not raw_days:
            values[column] = None
        elif raw_days.isdecimal() and raw_days.isascii() and len(raw_days) <= 6 and 1 <= int(raw_days) <= 3650:
            values[column] = int(raw_days)
        else:
            problems.append(
                _("%(column)s %(value)s is not a number of days from 1 to 3650")
                % {"column": column, "value": repr(raw_days)}
            )
    type_coding = None
    if any(text(column) for column in TYPE_CODING_COLUMNS if column in present):
        type_coding = {field: text(column) for column, field in TYPE_CODING_COLUMNS.items()}
        coding_problems = type_coding_problems(
            system=type_coding["code_system"], code=type_coding["code"], display=type_coding["code_display"]
        )
        by_field = {field: column for column, field in TYPE_CODING_COLUMNS.items()}
        problems.extend(f"{by_field[name]}: {problem}" for name, problem in coding_problems.items())
    schedules = parse_schedule_columns(raw, present, problems)
    if problems:
        return None
    return _Row(
        line=line,
        asset_tag=text("asset_tag"),
        asset_type=text("asset_type"),
        tag_id=tag_id,
        values=values,
        type_coding=type_coding,
        schedules=schedules,
    )


def parse_asset_csv(stream: Iterable[str]) -> tuple[list[_Row], list[str]]:
    """Check every row of an asset CSV. Returns the good rows and every problem ("row N (asset_tag X): ...")."""
    reader = csv.DictReader(stream)
    header = [name.strip() for name in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS and c not in OPTIONAL_COLUMNS]
    repeated = sorted({c for c in header if header.count(c) > 1})
    errors = []
    if not header:
        return [], [_("the file is empty: expected the header %(header)s") % {"header": ",".join(REQUIRED_COLUMNS)}]
    if missing:
        errors.append(_("header: missing column(s) %(columns)s") % {"columns": ", ".join(missing)})
    if repeated:
        # csv.DictReader would keep the last of them and drop the others silently.
        errors.append(_("header: column(s) %(columns)s appear more than once") % {"columns": ", ".join(repeated)})
    if unknown:
        errors.append(
            _("header: unknown column(s) %(columns)s; optional columns are %(optional)s")
            % {"columns": ", ".join(unknown), "optional": ", ".join(OPTIONAL_COLUMNS)}
        )
    if errors:
        return [], errors
    rows, seen_tags, seen_tag_ids, type_codings = [], {}, {}, {}
    present = set(header)
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw:
                errors.append(_("row %(line)s: has more fields than the header") % {"line": line})
                continue
            if not any((value or "").strip() for value in raw.values()):
                continue  # blank line
            if None in raw.values():
                # csv.DictReader fills the missing cells with None: importing them would blank those columns.
                errors.append(
                    _(
                        "%(row)s: has fewer fields than the header (%(count)s of %(columns)s): give every column, "
                        "empty where there is nothing"
                    )
                    % {
                        "row": _row_label(line, (raw.get("asset_tag") or "").strip() or "?"),
                        "count": sum(value is not None for value in raw.values()),
                        "columns": len(header),
                    }
                )
                continue
            problems: list[str] = []
            row = _parse_row(raw, line, present, problems)
            label = _row_label(line, (raw.get("asset_tag") or "").strip() or "?")
            if row:
                if row.asset_tag in seen_tags:
                    problems.append(
                        _("asset_tag is repeated (first on row %(line)s)") % {"line": seen_tags[row.asset_tag]}
                    )
                if row.tag_id and row.tag_id in seen_tag_ids:
                    problems.append(
                        _("tag_id %(tag)s is repeated (first on row %(line)s)")
                        % {"tag": format_tag_id(row.tag_id), "line": seen_tag_ids[row.tag_id]}
                    )
                if row.type_coding:
                    first = type_codings.setdefault(row.asset_type.casefold(), (row.type_coding, line))
                    if first[0] != row.type_coding:
                        problems.append(
                            _("the coding of asset type %(type)s differs from the one on row %(line)s")
                            % {"type": row.asset_type, "line": first[1]}
                        )
                seen_tags.setdefault(row.asset_tag, line)
                if row.tag_id:
                    seen_tag_ids.setdefault(row.tag_id, line)
            errors.extend(f"{label}: {problem}" for problem in problems)
            if row and not problems:
                rows.append(row)
    except csv.Error as exc:
        errors.append(_("row %(line)s: not valid CSV: %(error)s") % {"line": reader.line_num, "error": exc})
    except UnicodeDecodeError:
        errors.append(_("the file is not UTF-8 text"))
    return rows, errors


def _asset_type_for(name: str, cache: dict[str, AssetType], result: AssetImportResult) -> AssetType:
    """The type named ``name`` (any case), created when there is none. Types are matched by name only:
    two different names are two types, even when their slugs would be alike ("C-arm" and "C arm") or
    empty (names without ASCII letters or digits: "輸液ポンプ", "人工呼吸器")."""
    key = name.casefold()
    if key not in cache:
        asset_type = AssetType.objects.filter(name=name).first() or AssetType.objects.filter(name__iexact=name).first()
        if asset_type is None:
            asset_type = AssetType.objects.create(name=name, slug=_new_type_slug(name))
            result.asset_types_created.append(name)
        cache[key] = asset_type
    return cache[key]


def _new_type_slug(name: str) -> str:
    """A slug no other type has: slugify(name), or "type-<8 hex digits of the name's hash>" when the name has
    no ASCII letters or digits to make one from; "-2", "-3"... when it is taken."""
    limit = AssetType._meta.get_field("slug").max_length - 6  # room for the suffix
    base = slugify(name)[:limit].strip("-") or f"type-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    slug, n = base, 1
    while AssetType.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _asset_type_coding_set(asset_type: AssetType, coding: dict) -> None:
    changed = [name for name, value in coding.items() if getattr(asset_type, name) != value]
    if changed:
        for name in changed:
            setattr(asset_type, name, coding[name])
        asset_type.save(update_fields=changed)


@dataclass
class _RowWriter:
    """Writes the checked rows one by one: the asset, its type, the audit trail entry, schedules and tag."""

    result: AssetImportResult
    existing: dict[str, Asset]
    tags: dict[str, Tag]
    with_checklist: set[int]
    user: object = None
    types: dict[str, AssetType] = field(default_factory=dict)
    trail: list[ChangeRecord] = field(default_factory=list)  # who created or rewrote which asset, field by field

    def write(self, row: _Row) -> str:
        """Returns "created", "updated" or "unchanged"."""
        user = self.user
        values = {**row.values, "asset_type": _asset_type_for(row.asset_type, self.types, self.result)}
        if row.type_coding:
            _asset_type_coding_set(values["asset_type"], row.type_coding)
        asset = self.existing.get(row.asset_tag)
        if asset is None:
            asset = Asset.objects.create(asset_tag=row.asset_tag, **values)
            outcome = "created"
            changes = {name: {"from": None, "to": _trail_value(value)} for name, value in values.items()}
        else:
            changed = [name for name, value in values.items() if getattr(asset, name) != value]
            changes = {
                name: {"from": _trail_value(getattr(asset, name)), "to": _trail_value(values[name])} for name in changed
            }
            for name in changed:
                setattr(asset, name, values[name])
            # Checked for the whole file (with_checklist): spares Asset.save() a query per row.
            asset._identity_checked_without_checklist = asset.pk not in self.with_checklist
            if changed:
                asset.save(update_fields=[*changed, "updated_at"])
            outcome = "updated" if changed else "unchanged"
        if changes:
            self.trail.append(
                ChangeRecord(
                    content_type=ContentType.objects.get_for_model(Asset),
                    object_id=str(asset.pk),
                    object_repr=str(asset)[:200],
                    action=ChangeRecord.Action.CREATED if outcome == "created" else ChangeRecord.Action.CHANGED,
                    user=user if user is not None and user.is_authenticated else None,
                    changes={**changes, "source": {"from": None, "to": "asset import"}},
                )
            )
        if row.schedules:
            try:
                if schedules_import(asset=asset, columns=row.schedules, user=user) and outcome == "unchanged":
                    outcome = "updated"
            except LifecycleError as exc:
                raise AssetImportError([f"{_row_label(row.line, row.asset_tag)}: {exc}"]) from None
        if row.tag_id:
            tag = self.tags.get(row.tag_id)
            if tag is None:
                tag = self.tags[row.tag_id] = Tag.objects.create(tag_id=row.tag_id)
                self.result.tags_registered += 1
            if tag.asset_id != asset.pk:
                tag_bind(tag=tag, asset=asset, user=user)
                self.result.tags_bound += 1
                outcome = "created" if outcome == "created" else "updated"
        return outcome


@transaction.atomic
def assets_import(
    *,
    stream: Iterable[str],
    user=None,
    progress: Callable[[int, int], None] | None = None,
    dry_run: bool = False,
) -> AssetImportResult:
    """Upsert assets by asset_tag from a CSV. All or nothing; re-running changes nothing.

    Unknown asset types are created and unknown tags registered. A blank tag_id leaves the asset's
    binding as it is. A tag already on another asset is an error: unbind it there first.
    ``dry_run=True`` does all of it, then rolls back and returns the counts (the admin's preview).
    """
    rows, errors = parse_asset_csv(stream)
    if errors:
        raise AssetImportError(errors)
    _one_import_at_a_time()
    existing = Asset.objects.select_related("asset_type").in_bulk(
        [row.asset_tag for row in rows], field_name="asset_tag"
    )
    tags = Tag.objects.select_related("asset").in_bulk([row.tag_id for row in rows if row.tag_id], field_name="tag_id")
    with_checklist = set(
        DecommissioningChecklist.objects.filter(asset__in=list(existing.values())).values_list("asset_id", flat=True)
    )
    for row in rows:
        label = _row_label(row.line, row.asset_tag)
        tag = tags.get(row.tag_id)
        if tag and tag.asset_id and tag.asset.asset_tag != row.asset_tag:
            errors.append(
                _("%(row)s: tag_id %(tag)s is bound to asset %(asset)s; unbind it there first")
                % {"row": label, "tag": format_tag_id(row.tag_id), "asset": tag.asset.asset_tag}
            )
        asset = existing.get(row.asset_tag)
        if asset is None:
            continue
        if row.tag_id and asset.state == AssetState.DECOMMISSIONED and not (tag and tag.asset_id == asset.pk):
            errors.append(
                _("%(row)s: the asset is decommissioned; no tag may be bound to it (leave tag_id blank)")
                % {"row": label}
            )
        if asset.pk in with_checklist:
            frozen = [
                name
                for name in IDENTITY_FIELDS
                if name in row.values and name != "asset_type" and getattr(asset, name) != row.values[name]
            ]
            if asset.asset_type.name.casefold() != row.asset_type.casefold():
                frozen.append("asset_type")
            if frozen:
                errors.append(
                    _(
                        "%(row)s: cannot change %(fields)s: a decommissioning checklist is open for this asset and "
                        "its sign-offs cover its identity"
                    )
                    % {"row": label, "fields": ", ".join(frozen)}
                )
    if errors:
        raise AssetImportError(errors)

    result = AssetImportResult()
    writer = _RowWriter(result=result, existing=existing, tags=tags, with_checklist=with_checklist, user=user)
    for done, row in enumerate(rows, start=1):
        try:
            outcome = writer.write(row)
        except (DatabaseError, OverflowError) as exc:
            # The checks above should leave nothing for the database to refuse; if it does (a concurrent
            # change, say), the row is named and the transaction rolls back.
            raise AssetImportError([f"{_row_label(row.line, row.asset_tag)}: {_write_problem(exc)}"]) from None
        setattr(result, outcome, getattr(result, outcome) + 1)
        if progress and (done % 500 == 0 or done == len(rows)):
            progress(done, len(rows))
    ChangeRecord.objects.bulk_create(writer.trail, batch_size=2000)
    if dry_run:
        transaction.set_rollback(True)
    return result


# Two imports of the same new file at once: the second waits for the first, then finds its assets (unchanged)
# instead of failing on the unique asset tag. PostgreSQL: a lock held until the transaction ends; SQLite
# (development) lets one writer at a time anyway.
_IMPORT_LOCK_KEY = int.from_bytes(hashlib.sha256(b"lifecycle.asset_import").digest()[:8], "big", signed=True)


def _one_import_at_a_time() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK_KEY])


def _write_problem(exc: Exception) -> str:
    if isinstance(exc, OverflowError):
        return _("a date is out of range (%(error)s)") % {"error": exc}
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _(
        "the database refused the row (%(error)s): another import or edit may have changed the same assets, "
        "tags or asset types meanwhile; run the import again"
    ) % {"error": detail}


def _trail_value(value):
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, AssetType):
        return value.name
    return value


def assets_import_text(*, text: str, user=None) -> AssetImportResult:
    """The same import from an uploaded file's text (admin)."""
    return assets_import(stream=io.StringIO(text), user=user)
