"""Change history: who changed what and when, for assets, checklists and work orders.

Take a ``snapshot`` before and after a change and hand both to ``record_changes``; it writes one
append-only ``ChangeRecord`` with the fields that differ, or nothing when none do. Call it inside
the transaction that makes the change, so the record and the change commit together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder

from lifecycle.models import ChangeRecord


def _jsonable(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def snapshot(instance, *, fields: Iterable[str] | None = None, exclude: Iterable[str] = ()) -> dict:
    """The instance's editable field values as JSON-ready data; relations as the related object's name."""
    wanted = set(fields) if fields is not None else None
    skipped = set(exclude)
    values = {}
    for field in instance._meta.concrete_fields:
        if field.primary_key or field.name in skipped:
            continue
        if wanted is not None and field.name not in wanted:
            continue
        if wanted is None and not field.editable:
            continue
        if field.is_relation:
            related_id = getattr(instance, field.attname)
            values[field.name] = None if related_id is None else str(getattr(instance, field.name))
        else:
            values[field.name] = _jsonable(field.value_from_object(instance))
    return values


def record_changes(*, instance, user, before: dict, after: dict) -> ChangeRecord | None:
    """Write what changed between two snapshots of ``instance``. ``before={}`` records a creation."""
    before, after = _jsonable(before), _jsonable(after)
    changes = {
        name: {"from": before.get(name), "to": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }
    if not changes:
        return None
    return ChangeRecord.objects.create(
        content_type=ContentType.objects.get_for_model(instance),
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        action=ChangeRecord.Action.CREATED if not before else ChangeRecord.Action.CHANGED,
        user=user if user is not None and user.is_authenticated else None,
        changes=changes,
    )
