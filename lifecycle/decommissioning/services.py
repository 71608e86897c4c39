"""Changes to a decommissioning: open the checklist, edit it, record custody, detach the RTLS tag,
sign off, and finally decommission the asset and issue the certificate.

Locking order, everywhere: the checklist row, then the asset row. Every checklist change bumps
the checklist's version and stores a revision; a sign-off approves one version, so any later
change voids it (docs/design.md §4).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from assets.models import Asset, Tag
from assets.services import tag_unbind
from config.access import check, describe, fresh_signin_check
from config.security_events import security_event
from declarations.policy import SIGN_OFF_ACTIONS, Action
from declarations.states import AssetState, state_definition
from declarations.transitions import TransitionName
from lifecycle.decommissioning import selectors
from lifecycle.decommissioning.canonical import canonical_json, sha256_hex
from lifecycle.decommissioning.choices import RevisionAction, SignOffRole
from lifecycle.decommissioning.exceptions import (
    ChecklistConflict,
    ChecklistInvalid,
    ChecklistLocked,
    DecommissioningPermissionDenied,
    DecommissionRefused,
    SignOffRefused,
)
from lifecycle.decommissioning.models import (
    ChecklistRevision,
    CustodyEntry,
    DecommissioningCertificate,
    DecommissioningChecklist,
    SignOff,
)
from lifecycle.exceptions import LifecycleError, StepUpRequired, TransitionPermissionDenied
from lifecycle.services import asset_transition, fresh_signin_message

# A custody entry may be timed slightly ahead of the server clock (a phone's clock), not more.
CLOCK_SKEW = dt.timedelta(minutes=5)
CERTIFICATE_SCHEMA = "decommissioning-certificate/1"


# ---------------------------------------------------------------------------------------------
# Locks and checks


def _lock(checklist: DecommissioningChecklist) -> tuple[DecommissioningChecklist, Asset]:
    """Lock the checklist row, then the asset row, and return fresh copies of both."""
    locked = DecommissioningChecklist.objects.select_for_update().get(pk=checklist.pk)
    locked.asset = Asset.objects.select_for_update().select_related("asset_type").get(pk=locked.asset_id)
    return locked, locked.asset


def _require_editor(user, action: Action = Action.CHECKLIST_EDIT) -> None:
    if not check(user, action, door="decommissioning"):
        raise DecommissioningPermissionDenied(
            _("only Clinical engineering or Security staff may work on a decommissioning checklist")
        )


def _require_biomed(asset: Asset) -> None:
    if asset.state != AssetState.BIOMED:
        raise ChecklistLocked(
            _(
                "asset %(asset)s is %(state)s: its decommissioning checklist can only be changed while the asset "
                "is in biomed"
            )
            % {"asset": asset, "state": state_definition(asset.state).label.lower()}
        )


def _require_version(checklist: DecommissioningChecklist, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != checklist.version:
        raise ChecklistConflict(
            _(
                "the checklist changed while you were working on it (you had version %(yours)s, now %(now)s); "
                "reload it and review the changes"
            )
            % {"yours": expected_version, "now": checklist.version}
        )


def _new_version(checklist: DecommissioningChecklist, *, user, action: str, changed_fields: list[str], now) -> None:
    """Bump the version (voiding earlier sign-offs), save, and store the revision with a snapshot."""
    checklist.version += 1
    checklist.save()
    ChecklistRevision.objects.create(
        checklist=checklist,
        version=checklist.version,
        action=action,
        changed_by=user,
        changed_at=now,
        changed_fields=changed_fields,
        snapshot=selectors.checklist_snapshot(checklist),
    )


# ---------------------------------------------------------------------------------------------
# Checklist


@transaction.atomic
def checklist_open(*, asset: Asset, user) -> DecommissioningChecklist:
    """The asset's checklist, opened now if it has none. The yes/no answers start from the asset record."""
    _require_editor(user, Action.CHECKLIST_OPEN)
    asset = Asset.objects.select_for_update().get(pk=asset.pk)
    existing = DecommissioningChecklist.objects.filter(asset=asset).first()
    if existing is not None:
        return existing
    _require_biomed(asset)
    checklist = DecommissioningChecklist.objects.create(
        asset=asset,
        opened_by=user,
        data_bearing=asset.data_bearing,
        networked=asset.networked,
        encryption_status=asset.encryption_status,
    )
    ChecklistRevision.objects.create(
        checklist=checklist,
        version=checklist.version,
        action=RevisionAction.OPENED,
        changed_by=user,
        changed_at=timezone.now(),
        changed_fields=[],
        snapshot=selectors.checklist_snapshot(checklist),
    )
    return checklist


def _clean_user(value):
    User = get_user_model()
    if value is None or value == "":
        return None
    if isinstance(value, User):
        return value
    try:
        return User.objects.get(pk=value)
    except (User.DoesNotExist, ValueError, TypeError):
        raise ChecklistInvalid(_("sanitized_by: no user with id %(id)s") % {"id": repr(value)}) from None


def _clean_changes(changes: dict) -> dict:
    unknown = sorted(set(changes) - set(selectors.EDITABLE_FIELDS))
    if unknown:
        raise ChecklistInvalid(
            _("unknown or read-only checklist field(s): %(unknown)s; editable fields are %(editable)s")
            % {"unknown": ", ".join(unknown), "editable": ", ".join(selectors.EDITABLE_FIELDS)}
        )
    cleaned = {}
    for name, value in changes.items():
        if name == "sanitized_by":
            cleaned[name] = _clean_user(value)
            continue
        field = DecommissioningChecklist._meta.get_field(name)
        if value is None and not field.null:
            value = "" if field.get_internal_type() in ("CharField", "TextField") else value
        if isinstance(value, str) and field.get_internal_type() in ("CharField", "TextField"):
            value = value.strip()
        try:
            cleaned[name] = field.clean(value, None)
        except ValidationError as exc:
            raise ChecklistInvalid(f"{name}: {' '.join(exc.messages)}") from None  # Django's own, translated
    sanitized_on = cleaned.get("sanitized_on")
    if sanitized_on and sanitized_on > timezone.localdate():
        raise ChecklistInvalid(_("sanitized_on: %(date)s is in the future") % {"date": sanitized_on.isoformat()})
    return cleaned


@transaction.atomic
def checklist_update(
    *, checklist: DecommissioningChecklist, user, changes: dict, expected_version: int | None = None
) -> DecommissioningChecklist:
    """Change checklist fields. A real change bumps the version, which voids earlier sign-offs.

    `expected_version` is the version the user was looking at; if somebody changed the checklist
    since, the edit is refused rather than silently mixed with theirs.
    """
    _require_editor(user)
    cleaned = _clean_changes(changes)
    checklist, asset = _lock(checklist)
    _require_biomed(asset)
    _require_version(checklist, expected_version)
    changed = [name for name, value in cleaned.items() if getattr(checklist, name) != value]
    if not changed:
        return checklist
    for name in changed:
        setattr(checklist, name, cleaned[name])
    _new_version(checklist, user=user, action=RevisionAction.EDITED, changed_fields=sorted(changed), now=timezone.now())
    return checklist


@transaction.atomic
def custody_entry_add(
    *,
    checklist: DecommissioningChecklist,
    user,
    from_party: str,
    to_party: str,
    transferred_at: dt.datetime,
    place: str,
    container_or_seal_id: str = "",
    note: str = "",
    expected_version: int | None = None,
) -> CustodyEntry:
    """Append a hand-over to the chain of custody (it bumps the checklist version like any change)."""
    _require_editor(user, Action.CHECKLIST_CUSTODY)
    values = {
        "from_party": (from_party or "").strip(),
        "to_party": (to_party or "").strip(),
        "place": (place or "").strip(),
        "container_or_seal_id": (container_or_seal_id or "").strip(),
        "note": (note or "").strip(),
    }
    problems = [
        _("%(field)s is empty") % {"field": name} for name in ("from_party", "to_party", "place") if not values[name]
    ]
    for name in ("from_party", "to_party", "place", "container_or_seal_id"):
        limit = CustodyEntry._meta.get_field(name).max_length
        if len(values[name]) > limit:
            problems.append(_("%(field)s is longer than %(limit)s characters") % {"field": name, "limit": limit})
    now = timezone.now()
    if not isinstance(transferred_at, dt.datetime) or timezone.is_naive(transferred_at):
        problems.append(_("transferred_at must be a date and time with a time zone"))
    elif transferred_at > now + CLOCK_SKEW:
        problems.append(_("transferred_at %(at)s is in the future") % {"at": transferred_at.isoformat()})
    if problems:
        raise ChecklistInvalid(_("custody entry: %(problems)s") % {"problems": "; ".join(problems)})

    checklist, asset = _lock(checklist)
    _require_biomed(asset)
    _require_version(checklist, expected_version)
    last = checklist.custody_entries.order_by("-position").first()
    if last is not None and transferred_at < last.transferred_at:
        raise ChecklistInvalid(
            _(
                "custody entry: time %(at)s is before the previous hand-over (entry %(position)s at %(previous)s); "
                "entries are in order"
            )
            % {"at": transferred_at.isoformat(), "position": last.position, "previous": last.transferred_at.isoformat()}
        )
    entry = CustodyEntry.objects.create(
        checklist=checklist,
        position=(last.position + 1) if last else 1,
        transferred_at=transferred_at,
        recorded_by=user,
        recorded_at=now,
        **values,
    )
    _new_version(checklist, user=user, action=RevisionAction.CUSTODY_ADDED, changed_fields=["custody_entries"], now=now)
    return entry


@transaction.atomic
def checklist_record_tag_detached(*, checklist: DecommissioningChecklist, user) -> DecommissioningChecklist:
    """Record that the RTLS tag is off the device, closing its binding so the tag can be reused.

    If the tag was already unbound elsewhere, the last binding names it; an asset that never had a
    tag is recorded as detached with no tag id.
    """
    _require_editor(user, Action.CHECKLIST_TAG_DETACH)
    checklist, asset = _lock(checklist)
    _require_biomed(asset)
    now = timezone.now()
    bound = Tag.objects.filter(asset=asset).first()
    if bound is not None:
        tag_unbind(tag=bound, user=user, at=now)
        tag_id = bound.tag_id
    elif checklist.tag_detached:
        return checklist
    else:
        binding = selectors.last_tag_binding(asset)
        tag_id = binding.tag.tag_id if binding else ""
    checklist.tag_detached = True
    checklist.detached_tag_id = tag_id
    checklist.tag_detached_at = now
    checklist.tag_detached_by = user
    _new_version(
        checklist, user=user, action=RevisionAction.TAG_DETACHED, changed_fields=list(selectors.TAG_FIELDS), now=now
    )
    return checklist


# ---------------------------------------------------------------------------------------------
# Sign-off


def checklist_sign_off(*, checklist: DecommissioningChecklist, user, role: str, version: int) -> SignOff:
    """Approve checklist ``version`` (see _checklist_sign_off); a refusal also goes to the security log."""
    try:
        return _checklist_sign_off(checklist=checklist, user=user, role=role, version=version)
    except LifecycleError as exc:
        security_event(
            "decommissioning.sign_off_refused",
            user=user.get_username() if user is not None else None,
            asset=checklist.asset_id,
            role=str(role),
            version=version,
            reason=exc.message,
        )
        raise


@transaction.atomic
def _checklist_sign_off(*, checklist: DecommissioningChecklist, user, role: str, version: int) -> SignOff:
    """Approve checklist `version` (the one the signer reviewed) as Clinical engineering or Security.

    Refused when: the user lacks the role; the checklist changed since they reviewed it; it is
    incomplete (the refusal lists what is missing); the role already has a valid sign-off; or this
    user already signed this version in the other role (two different people must sign).

    When the sign-offs of this version no longer match what they signed (an identity change the freeze does not
    cover: the asset type renamed in the admin; or a change around the application), they are void: the
    checklist gets a new version (revision "signed content changed", naming what changed) and this sign-off
    is for it; the other role signs it too.
    """
    try:
        role = SignOffRole(role)
    except ValueError:
        raise ChecklistInvalid(
            _("role %(role)s cannot sign off a decommissioning; use one of %(roles)s")
            % {"role": repr(role), "roles": ", ".join(SignOffRole.values)}
        ) from None
    if not check(user, SIGN_OFF_ACTIONS[role.value], door="decommissioning", checklist_id=checklist.pk):
        raise DecommissioningPermissionDenied(
            _("%(who)s is not in the '%(role)s' group, so cannot give the %(role)s sign-off")
            % {"who": selectors.person_label(user) or _("this user"), "role": role.label}
        )
    if not fresh_signin_check(user, SIGN_OFF_ACTIONS[role.value], door="decommissioning", checklist_id=checklist.pk):
        raise StepUpRequired(fresh_signin_message(_("the %(role)s sign-off") % {"role": role.label}))
    checklist, asset = _lock(checklist)
    _require_biomed(asset)
    if version != checklist.version:
        versions = {"reviewed": version, "now": checklist.version}
        raise SignOffRefused(
            _(
                "you reviewed version %(reviewed)s but the checklist is now version %(now)s: review the changes "
                "and sign that version"
            )
            % versions,
            [_("checklist changed after review (version %(reviewed)s reviewed, now %(now)s)") % versions],
        )
    missing = selectors.checklist_missing_items(checklist)
    if missing:
        raise SignOffRefused(_("the checklist is incomplete: %(missing)s") % {"missing": "; ".join(missing)}, missing)
    # What this version's sign-offs signed no longer matches (the asset's type renamed since, say): they are void,
    # and the version is spent. The signer reviewed what is there now: a new version, which every role signs.
    with translation.override(settings.LANGUAGE_CODE):  # stored: in the source language
        changed = selectors.signed_content_changes(checklist)
    if changed:
        _new_version(
            checklist,
            user=user,
            action=RevisionAction.SIGNED_CONTENT_CHANGED,
            changed_fields=changed,
            now=timezone.now(),
        )
    for existing in selectors.valid_sign_offs(checklist):
        if existing.signed_by_id == user.pk:
            raise SignOffRefused(
                _(
                    "you already signed version %(version)s as %(role)s; the other sign-off must come from a "
                    "different person"
                )
                % {"version": checklist.version, "role": existing.get_role_display()},
                [_("already signed by this user")],
            )
        if existing.role == role:
            raise SignOffRefused(
                _("the %(role)s sign-off for version %(version)s was already given by %(who)s")
                % {"role": role.label, "version": checklist.version, "who": selectors.person_label(existing.signed_by)},
                [_("%(role)s sign-off already given") % {"role": role.label}],
            )
    content = selectors.signed_content_json(checklist)
    try:
        with transaction.atomic():
            return SignOff.objects.create(
                checklist=checklist,
                role=role,
                signed_by=user,
                signed_at=timezone.now(),
                checklist_version=checklist.version,
                signed_content=content,
                content_sha256=sha256_hex(content),
            )
    except IntegrityError:
        # Only reachable if the row lock was bypassed; the unique constraints still hold the rule.
        raise SignOffRefused(_("a conflicting sign-off was recorded at the same moment; reload and check")) from None


# ---------------------------------------------------------------------------------------------
# Decommission and certificate


# The certificate is stored and hashed: its labels are in the source language whatever the signer's language.
@translation.override(settings.LANGUAGE_CODE)
def _certificate_content(
    *, certificate_id: uuid.UUID, checklist: DecommissioningChecklist, asset: Asset, user, issued_at
) -> dict:
    sign_offs = [
        {
            "role": s.role,
            "role_label": s.get_role_display(),
            "signed_by": selectors.person(s.signed_by),
            "signed_at": s.signed_at.isoformat(),
            "checklist_version": s.checklist_version,
            "signed_content_sha256": s.content_sha256,
        }
        for s in selectors.valid_sign_offs(checklist)
    ]
    # The certificate states what the two people signed: their signed content (the decommission guard has
    # just checked that it still matches the checklist and the asset, sign_off_mismatches).
    valid = selectors.valid_sign_offs(checklist)
    signed = [s for s in valid if s.content_sha256]
    if not valid or len(signed) != len(valid) or len({s.content_sha256 for s in signed}) != 1:
        raise DecommissionRefused(
            f"asset {asset} cannot be decommissioned: the sign-offs do not cover one and the same content",
            ["the sign-offs do not cover one and the same content: sign again"],
        )
    content = json.loads(signed[0].signed_content)
    snapshot = content["checklist"]
    return {
        "schema": CERTIFICATE_SCHEMA,
        "title": "Certificate of sanitization and disposal",
        "certificate_id": str(certificate_id),
        "issued_at": issued_at.isoformat(),
        "issued_by": selectors.person(user),
        "asset": content["asset"],
        "checklist": {k: v for k, v in snapshot.items() if k != "custody_chain"},
        "custody_chain": snapshot["custody_chain"],
        "sign_offs": sign_offs,
        "state": {"from": AssetState.BIOMED.value, "to": AssetState.DECOMMISSIONED.value},
    }


def asset_decommission(*, asset: Asset, user, note: str = "") -> DecommissioningCertificate:
    """Retire the asset and issue its certificate (see _asset_decommission); a refusal goes to the security log."""
    try:
        return _asset_decommission(asset=asset, user=user, note=note)
    except LifecycleError as exc:
        security_event(
            "decommissioning.decommission_refused",
            user=user.get_username() if user is not None else None,
            asset=asset.pk,
            reason=exc.message,
        )
        raise


@transaction.atomic
def _asset_decommission(*, asset: Asset, user, note: str = "") -> DecommissioningCertificate:
    """Retire the asset (the lifecycle `decommission` transition) and issue its certificate, in one transaction.

    The checklist row stays locked throughout, so no edit or sign-off can slip in between the
    guard's check and the certificate's snapshot.
    """
    if not check(user, Action.DECOMMISSION, door="decommissioning", asset_id=asset.pk):
        raise TransitionPermissionDenied(
            _("only %(who)s may decommission an asset") % {"who": describe(Action.DECOMMISSION)}
        )
    if not fresh_signin_check(user, Action.DECOMMISSION, door="decommissioning", asset_id=asset.pk):
        raise StepUpRequired(fresh_signin_message(TransitionName.DECOMMISSION.label.lower()))
    checklist = DecommissioningChecklist.objects.select_for_update().filter(asset=asset).first()
    if checklist is None:
        raise DecommissionRefused(
            _("asset %(asset)s cannot be decommissioned: no decommissioning checklist has been opened")
            % {"asset": asset},
            [_("no decommissioning checklist has been opened for this asset")],
        )
    issued = selectors.certificate_for_asset(asset)
    if issued is not None:
        raise DecommissionRefused(
            _("asset %(asset)s is already decommissioned: certificate %(certificate)s was issued %(at)s")
            % {"asset": asset, "certificate": issued.pk, "at": f"{issued.issued_at:%Y-%m-%d %H:%M %Z}"},
            [_("already decommissioned")],
        )
    blockers = selectors.decommission_blockers(asset)
    if blockers:
        raise DecommissionRefused(
            _("asset %(asset)s cannot be decommissioned yet: %(reasons)s")
            % {"asset": asset, "reasons": "; ".join(blockers)},
            blockers,
        )
    transition_note = note.strip() or f"decommissioning checklist version {checklist.version}, dual sign-off"
    # The transition issues the certificate (certificate_issue below) inside this same transaction.
    asset_transition(asset=asset, transition="decommission", user=user, note=transition_note)
    return selectors.certificate_for_asset(asset)


def on_transition_applied(sender, *, asset: Asset, transition: str, user, **kwargs) -> None:
    """lifecycle.signals.transition_applied: retiring an asset issues its certificate, in the same transaction."""
    if transition == TransitionName.DECOMMISSION:
        certificate_issue(asset=asset, user=user)


def certificate_issue(*, asset: Asset, user) -> DecommissioningCertificate:
    """Issue the certificate of sanitization and disposal. Called by the `decommission` transition itself
    (lifecycle.services.asset_transition), so no path retires an asset without one."""
    checklist = DecommissioningChecklist.objects.select_for_update().filter(asset=asset).first()
    if checklist is None:
        raise DecommissionRefused(
            _("asset %(asset)s cannot be decommissioned: no decommissioning checklist has been opened")
            % {"asset": asset},
            [_("no decommissioning checklist has been opened for this asset")],
        )
    asset = Asset.objects.select_related("asset_type").get(pk=asset.pk)
    certificate_id = uuid.uuid4()
    issued_at = timezone.now()
    content = _certificate_content(
        certificate_id=certificate_id, checklist=checklist, asset=asset, user=user, issued_at=issued_at
    )
    text = canonical_json(content)
    return DecommissioningCertificate.objects.create(
        id=certificate_id,
        asset=asset,
        checklist=checklist,
        issued_at=issued_at,
        issued_by=user,
        content_json=text,
        content_sha256=sha256_hex(text),
    )
