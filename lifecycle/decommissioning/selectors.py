"""Read-side questions about decommissioning: is the checklist complete, are the sign-offs valid,
what stops this asset from being decommissioned, and which assets are still in service."""

from __future__ import annotations

import json

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from assets.models import Asset, Tag, TagBinding
from config.access import may
from declarations.choices import EncryptionStatus
from declarations.choices import EncryptionStatus as Enc
from declarations.policy import SIGN_OFF_ACTIONS, Action
from declarations.states import AssetState
from declarations.tag_ids import format_tag_id
from lifecycle.decommissioning.canonical import canonical_json, sha256_hex
from lifecycle.decommissioning.choices import FinalDisposition, SanitizationMethod, SignOffRole
from lifecycle.decommissioning.models import DecommissioningCertificate, DecommissioningChecklist, SignOff

# The fields a person fills in. The RTLS tag fields are written by checklist_record_tag_detached only.
EDITABLE_FIELDS = (
    "data_bearing",
    "data_bearing_note",
    "encryption_status",
    "encryption_status_confirmed",
    "sanitization_method",
    "sanitization_tool",
    "sanitization_verification",
    "sanitized_by",
    "sanitized_by_name",
    "sanitized_on",
    "networked",
    "networked_note",
    "network_credentials_revoked",
    "network_certificates_revoked",
    "network_allowlists_removed",
    "network_revocation_details",
    "final_disposition",
    "disposition_recipient",
    "disposition_reference",
)
TAG_FIELDS = ("tag_detached", "detached_tag_id", "tag_detached_at", "tag_detached_by")

SIGN_OFF_NAMES = {
    SignOffRole.CLINICAL_ENGINEERING: gettext_lazy("clinical engineering"),
    SignOffRole.SECURITY: gettext_lazy("security"),
}


# ---------------------------------------------------------------------------------------------
# Who may do what


def user_can_edit_checklist(user) -> bool:
    """Open, edit, custody, tag detachment: the policy table (declarations/policy.py) gives all four alike."""
    return may(user, Action.CHECKLIST_EDIT)


def user_can_view_certificates(user) -> bool:
    return may(user, Action.CERTIFICATE_VIEW)


def user_has_sign_off_role(user, role: SignOffRole | str) -> bool:
    return may(user, SIGN_OFF_ACTIONS[SignOffRole(role).value])


def user_sign_off_roles(user) -> list[SignOffRole]:
    """The sign-offs this user may give. A sign-off is a personal attestation: the table gives superusers none."""
    return [role for role in SignOffRole if user_has_sign_off_role(user, role)]


# ---------------------------------------------------------------------------------------------
# Identity and snapshots (JSON-ready: strings, booleans, integers, null)


def person(user) -> dict | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "full_name": user.get_full_name()}


def person_label(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else ""


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def asset_identity(asset: Asset) -> dict:
    return {
        "id": asset.pk,
        "asset_tag": asset.asset_tag,
        "asset_type": asset.asset_type.name,
        "manufacturer": asset.manufacturer,
        "model": asset.model,
        "serial_number": asset.serial_number,
        "unit": asset.unit,
        "firmware_version": asset.firmware_version,
        "risk_class": asset.risk_class,
        "record_says_data_bearing": asset.data_bearing,
        "record_says_networked": asset.networked,
    }


def custody_chain(checklist: DecommissioningChecklist) -> list[dict]:
    return [
        {
            "position": entry.position,
            "from": entry.from_party,
            "to": entry.to_party,
            "time": _iso(entry.transferred_at),
            "place": entry.place,
            "container_or_seal_id": entry.container_or_seal_id,
            "note": entry.note,
            "recorded_by": person(entry.recorded_by),
            "recorded_at": _iso(entry.recorded_at),
        }
        for entry in checklist.custody_entries.select_related("recorded_by").order_by("position")
    ]


def checklist_snapshot(checklist: DecommissioningChecklist) -> dict:
    """Every checklist field and the custody chain, as stored in revisions and the certificate."""
    c = checklist
    return {
        "version": c.version,
        "opened_at": _iso(c.opened_at),
        "opened_by": person(c.opened_by),
        "data": {
            "data_bearing": c.data_bearing,
            "data_bearing_note": c.data_bearing_note,
            "encryption_status": c.encryption_status,
            "encryption_status_confirmed": c.encryption_status_confirmed,
            "sanitization_method": c.sanitization_method,
            "sanitization_standard": "NIST SP 800-88" if c.sanitization_method else "",
            "sanitization_tool": c.sanitization_tool,
            "sanitization_verification": c.sanitization_verification,
            "sanitized_by": person(c.sanitized_by),
            "sanitized_by_name": c.sanitized_by_name,
            "sanitized_on": _iso(c.sanitized_on),
        },
        "network": {
            "networked": c.networked,
            "networked_note": c.networked_note,
            "credentials_revoked": c.network_credentials_revoked,
            "certificates_revoked": c.network_certificates_revoked,
            "allowlists_removed": c.network_allowlists_removed,
            "revocation_details": c.network_revocation_details,
        },
        "rtls_tag": {
            "detached": c.tag_detached,
            "tag_id": format_tag_id(c.detached_tag_id) if c.detached_tag_id else "",
            "detached_at": _iso(c.tag_detached_at),
            "detached_by": person(c.tag_detached_by),
        },
        "disposition": {
            "final_disposition": c.final_disposition,
            "recipient": c.disposition_recipient,
            "reference": c.disposition_reference,
        },
        "custody_chain": custody_chain(c),
    }


# ---------------------------------------------------------------------------------------------
# Completeness and sign-offs


def _same_party(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def checklist_missing_items(checklist: DecommissioningChecklist) -> list[str]:
    """What the checklist still lacks, one clear sentence per item. Empty when complete."""
    c, asset = checklist, checklist.asset
    missing: list[str] = []

    # 1. Stored data
    if asset.data_bearing and not c.data_bearing and not c.data_bearing_note.strip():
        missing.append(
            _(
                "the asset record marks the device data-bearing but the checklist says it is not: "
                "explain why in the data-bearing note"
            )
        )
    if c.data_bearing:
        if not c.encryption_status_confirmed:
            missing.append(_("encryption status not confirmed"))
        elif c.encryption_status == EncryptionStatus.UNKNOWN:
            missing.append(_("encryption status is confirmed as 'unknown': record what it is"))
        if not c.sanitization_method:
            missing.append(_("storage sanitization not recorded (NIST SP 800-88 method: clear, purge or destroy)"))
        if not c.sanitization_tool.strip():
            missing.append(_("sanitization tool not recorded"))
        if not c.sanitization_verification.strip():
            missing.append(_("sanitization verification (how it was verified, and the result) not recorded"))
        if c.sanitized_by_id is None and not c.sanitized_by_name.strip():
            missing.append(_("who performed the sanitization not recorded"))
        if c.sanitized_on is None:
            missing.append(_("sanitization date not recorded"))

    # 2. Network access
    if asset.networked and not c.networked and not c.networked_note.strip():
        missing.append(
            _(
                "the asset record marks the device networked but the checklist says it is not: "
                "explain why in the networked note"
            )
        )
    if c.networked:
        if not c.network_credentials_revoked:
            missing.append(_("network credentials not revoked"))
        if not c.network_certificates_revoked:
            missing.append(_("network certificates not revoked"))
        if not c.network_allowlists_removed:
            missing.append(_("network allowlist entries not removed"))

    # 3. RTLS tag: checked against the live binding, so a tag bound again later is caught.
    bound = Tag.objects.filter(asset=asset).first()
    if bound is not None:
        missing.append(_("RTLS tag %(tag)s is still bound to the asset: detach and unbind it") % {"tag": bound})
    elif not c.tag_detached:
        missing.append(_("RTLS tag detachment not recorded"))

    # 4. Custody and disposition
    entries = list(c.custody_entries.order_by("position"))
    if not entries:
        missing.append(_("chain of custody has no entries"))
    for previous, entry in zip(entries, entries[1:], strict=False):
        if not _same_party(previous.to_party, entry.from_party):
            missing.append(
                _(
                    "chain of custody is broken: entry %(entry)s starts from %(from_party)s "
                    "but entry %(previous)s handed the device to %(to_party)s"
                )
                % {
                    "entry": entry.position,
                    "from_party": repr(entry.from_party),
                    "previous": previous.position,
                    "to_party": repr(previous.to_party),
                }
            )
    if not c.final_disposition:
        missing.append(_("final disposition not recorded (recycle, destroy, return to vendor, sell or donate)"))
    if not c.disposition_recipient.strip():
        missing.append(_("disposition recipient not recorded"))
    return missing


def signed_content(checklist: DecommissioningChecklist) -> dict:
    """What a sign-off covers: the whole checklist (custody chain included) and the asset's identity."""
    return {"asset": asset_identity(checklist.asset), "checklist": checklist_snapshot(checklist)}


def signed_content_json(checklist: DecommissioningChecklist) -> str:
    return canonical_json(signed_content(checklist))


def _differences(signed: dict, current: dict) -> list[str]:
    changed = [
        _("asset %(field)s") % {"field": name}
        for name in sorted(set(signed["asset"]) | set(current["asset"]))
        if signed["asset"].get(name) != current["asset"].get(name)
    ]
    sections = sorted(set(signed["checklist"]) | set(current["checklist"]))
    changed += [
        _("checklist %(section)s") % {"section": name}
        for name in sections
        if signed["checklist"].get(name) != current["checklist"].get(name)
    ]
    return changed


def current_version_sign_offs(checklist: DecommissioningChecklist) -> list[SignOff]:
    """The sign-offs given for the checklist's current version, valid or not (see valid_sign_offs)."""
    return list(
        checklist.sign_offs.filter(checklist_version=checklist.version).select_related("signed_by").order_by("role")
    )


def _content_changes(checklist: DecommissioningChecklist, sign_offs: list[SignOff]) -> dict[int, list[str] | None]:
    """Per sign-off (by pk) whose signed content no longer matches the checklist and the asset as they are now:
    what changed (["asset asset_type"]), or None when it recorded no content (given before sign-offs were
    hashed). Sign-offs that still match are left out."""
    if not sign_offs:
        return {}
    current_json = signed_content_json(checklist)
    current_hash = sha256_hex(current_json)
    changes = {}
    for sign_off in sign_offs:
        if not sign_off.content_sha256:
            changes[sign_off.pk] = None
        elif sign_off.content_sha256 != current_hash or sha256_hex(sign_off.signed_content) != sign_off.content_sha256:
            changes[sign_off.pk] = _differences(json.loads(sign_off.signed_content), json.loads(current_json))
    return changes


def signed_content_changes(checklist: DecommissioningChecklist, sign_offs: list[SignOff] | None = None) -> list[str]:
    """What changed since the given sign-offs (default: the current version's) were signed: the union, for the
    new version a re-signing starts (services._checklist_sign_off). Empty when they all still match."""
    sign_offs = current_version_sign_offs(checklist) if sign_offs is None else sign_offs
    changed: set[str] = set()
    for what in _content_changes(checklist, sign_offs).values():
        changed.update(what if what is not None else ["signed content not recorded"])
    return sorted(changed)


def sign_off_mismatches(checklist: DecommissioningChecklist, sign_offs: list[SignOff] | None = None) -> list[str]:
    """Sign-offs of the current version whose signed content no longer matches the checklist and asset as they
    are now: each is void, and its role must sign again (a new version, services._checklist_sign_off)."""
    sign_offs = current_version_sign_offs(checklist) if sign_offs is None else sign_offs
    changes = _content_changes(checklist, sign_offs)
    problems = []
    for sign_off in sign_offs:
        if sign_off.pk not in changes:
            continue
        name = SIGN_OFF_NAMES[SignOffRole(sign_off.role)]
        what = changes[sign_off.pk]
        if what is None:
            problems.append(
                _("%(role)s sign-off does not record what was signed (given before sign-offs were hashed): sign again")
                % {"role": name}
            )
        else:
            problems.append(
                _(
                    "%(role)s sign-off does not match what is there now (%(what)s changed after it was signed): "
                    "review and sign again"
                )
                % {"role": name, "what": ", ".join(what) or _("content")}
            )
    return problems


def sign_off_void_reason(checklist: DecommissioningChecklist, sign_off: SignOff) -> str | None:
    """Why ``sign_off`` no longer holds, in a sentence for the admin's panels; None while it is valid. A
    sign-off is void once the checklist has a newer version, or once what it signed (the checklist and the
    asset's identity) changed under it: an asset type renamed since, say."""
    if sign_off.checklist_version != checklist.version:
        return _("the checklist changed since (now version %(version)s); it must be signed again") % {
            "version": checklist.version
        }
    what = _content_changes(checklist, [sign_off])
    if sign_off.pk not in what:
        return None
    if what[sign_off.pk] is None:
        return _("it does not record what was signed (given before sign-offs were hashed); it must be signed again")
    return _("%(what)s changed after it was signed; it must be signed again") % {
        "what": ", ".join(what[sign_off.pk]) or _("content")
    }


def latest_sign_offs(checklist: DecommissioningChecklist) -> dict[SignOffRole, SignOff | None]:
    """Per role, the sign-off for the most recent version (valid or void), or None if nobody signed."""
    latest: dict[SignOffRole, SignOff | None] = dict.fromkeys(SignOffRole)
    for sign_off in checklist.sign_offs.select_related("signed_by").order_by("checklist_version", "signed_at"):
        latest[SignOffRole(sign_off.role)] = sign_off
    return latest


def valid_sign_offs(checklist: DecommissioningChecklist) -> list[SignOff]:
    """The sign-offs that hold: given for the current version, and still matching what they signed."""
    current = current_version_sign_offs(checklist)
    void = _content_changes(checklist, current)
    return [sign_off for sign_off in current if sign_off.pk not in void]


def sign_off_roles_open(user, checklist: DecommissioningChecklist) -> list[SignOffRole]:
    """The sign-off roles this user could give now: held, without a valid sign-off, and the user has no valid
    sign-off in the other role. A void sign-off (a newer version, or its content changed) leaves its role open,
    to the same people: the service decides, this picks the buttons."""
    valid = valid_sign_offs(checklist)
    if any(s.signed_by_id == user.pk for s in valid):
        return []
    given = {s.role for s in valid}
    return [role for role in user_sign_off_roles(user) if role.value not in given]


def sign_off_blockers(checklist: DecommissioningChecklist) -> list[str]:
    blockers = []
    for role, sign_off in latest_sign_offs(checklist).items():
        name = SIGN_OFF_NAMES[role]
        if sign_off is None:
            blockers.append(_("%(role)s sign-off missing") % {"role": name})
        elif sign_off.checklist_version != checklist.version:
            blockers.append(
                _("%(role)s sign-off void: the checklist changed after it (version %(signed)s signed, now %(now)s)")
                % {"role": name, "signed": sign_off.checklist_version, "now": checklist.version}
            )
    current = current_version_sign_offs(checklist)
    if len({s.signed_by_id for s in current}) < len(current):
        blockers.append(_("both sign-offs are by the same person: they must come from two different people"))
    blockers.extend(sign_off_mismatches(checklist, current))
    return blockers


def decommission_blockers(asset: Asset) -> list[str]:
    """Why this asset cannot be decommissioned yet; an empty list means it is ready.

    Called by the `decommission` transition's guard (lifecycle core) and by asset_decommission.
    """
    checklist = DecommissioningChecklist.objects.filter(asset=asset).first()
    if checklist is None:
        return [_("no decommissioning checklist has been opened for this asset")]
    return checklist_missing_items(checklist) + sign_off_blockers(checklist)


def checklist_for_asset(asset: Asset) -> DecommissioningChecklist | None:
    return DecommissioningChecklist.objects.filter(asset=asset).select_related("asset").first()


def last_tag_binding(asset: Asset) -> TagBinding | None:
    return TagBinding.objects.filter(asset=asset).select_related("tag").order_by("-bound_at").first()


# ---------------------------------------------------------------------------------------------
# Certificates


def certificate_hash_matches(certificate: DecommissioningCertificate) -> bool:
    """True when the stored content still hashes to the stored SHA-256 (nobody altered the row)."""
    return sha256_hex(certificate.content_json) == certificate.content_sha256


def certificate_for_asset(asset: Asset) -> DecommissioningCertificate | None:
    return DecommissioningCertificate.objects.filter(asset=asset).first()


# ---------------------------------------------------------------------------------------------
# What is still in service


def assets_in_service(queryset: QuerySet[Asset] | None = None) -> QuerySet[Asset]:
    """Assets that are not decommissioned. Search, par counts and the live map start from this;
    a decommissioned asset keeps its history (transitions, location intervals, certificate)."""
    queryset = Asset.objects.all() if queryset is None else queryset
    return queryset.exclude(state=AssetState.DECOMMISSIONED)


def certificate_display(certificate: DecommissioningCertificate) -> dict:
    """The certificate's own content (what the hash covers), plus human labels for its coded values."""

    content = certificate.content
    checklist = content["checklist"]

    def label(choices, value):
        return dict(choices.choices).get(value, value) if value else ""

    return {
        "content": content,
        "labels": {
            "encryption_status": label(Enc, checklist["data"]["encryption_status"]),
            "sanitization_method": label(SanitizationMethod, checklist["data"]["sanitization_method"]),
            "final_disposition": label(FinalDisposition, checklist["disposition"]["final_disposition"]),
        },
        "sha256": certificate.content_sha256,
        "hash_matches": certificate_hash_matches(certificate),
    }


HASH_RULE = (
    "SHA-256 over the UTF-8 bytes of the canonical JSON of 'certificate': keys sorted, "
    "separators ',' and ':' with no whitespace, non-ASCII characters unescaped"
)


def certificate_export(certificate: DecommissioningCertificate) -> dict:
    """The JSON export: the certificate as issued, its hash, and the rule to recompute the hash."""
    return {
        "certificate": certificate.content,
        "content_sha256": certificate.content_sha256,
        "hash_algorithm": "SHA-256",
        "hash_rule": HASH_RULE,
    }


def decommission_not_ready(asset) -> list[str]:
    """The check of the state machine's ``decommission_ready`` guard (bound in DecommissioningConfig.ready)."""
    return list(decommission_blockers(asset))
