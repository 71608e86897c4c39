"""Concurrent sign-offs and edits on PostgreSQL: two threads, two database connections.

Each scenario pauses the first thread while it holds the checklist row lock, checks that the
second one waits for that lock, then lets the first commit and checks what the second did.
SQLite has no row locks (it locks the whole database), so these run on PostgreSQL only:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<your_db> .venv/bin/pytest tests/lifecycle/decommissioning
"""

import threading

import pytest
from django.db import DatabaseError, connection, transaction

from assets.services import tag_bind
from declarations.states import AssetState
from lifecycle.decommissioning import selectors, services
from lifecycle.decommissioning.exceptions import ChecklistLocked, SignOffRefused
from lifecycle.decommissioning.models import DecommissioningCertificate, DecommissioningChecklist, SignOff
from tests.factories import AssetFactory, TagFactory, UserFactory
from tests.lifecycle.decommissioning.conftest import complete, send_to_biomed

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL row locks and two connections; set DATABASE_URL=postgres://... to run",
    ),
    pytest.mark.django_db(transaction=True),
]

LOCK_WAIT_S = 1.0  # how long the second thread is given to (wrongly) get past the lock


@pytest.fixture
def people(transactional_db):  # role groups are re-seeded for transactional tests by tests/conftest.py
    return {
        "biomed": UserFactory(username="pg-biomed", roles=["Clinical engineering"]),
        "security": UserFactory(username="pg-security", roles=["Security"]),
        "dual": UserFactory(username="pg-dual", roles=["Clinical engineering", "Security"]),
    }


@pytest.fixture
def ready_checklist(people):
    asset = AssetFactory(data_bearing=True, networked=True)
    tag_bind(tag=TagFactory(), asset=asset, user=people["biomed"])
    send_to_biomed(asset, people["biomed"])
    checklist = services.checklist_open(asset=asset, user=people["biomed"])
    return complete(checklist, people["biomed"])


class Paused:
    """Make `module.name` stop, in the thread called `thread_name` only, until released."""

    def __init__(self, monkeypatch, module, name, thread_name):
        self.reached, self.release = threading.Event(), threading.Event()
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            if threading.current_thread().name == thread_name:
                self.reached.set()
                assert self.release.wait(10), "the test never released the paused thread"
            return result

        monkeypatch.setattr(module, name, wrapper)


def run(name, target, **kwargs):
    """Run target(**kwargs) in a thread with its own DB connection; returns (thread, outcome dict)."""
    outcome = {}

    def body():
        try:
            outcome["result"] = target(**kwargs)
        except Exception as exc:  # the test asserts on it
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=body, name=name)
    thread.start()
    return thread, outcome


def test_one_person_signing_both_roles_at_once_gets_one_sign_off(ready_checklist, people, monkeypatch):
    # First thread holds the lock right after checking completeness, before it records its sign-off.
    pause = Paused(monkeypatch, selectors, "checklist_missing_items", thread_name="first")
    version = ready_checklist.version
    first, first_out = run(
        "first",
        services.checklist_sign_off,
        checklist=ready_checklist,
        user=people["dual"],
        role="clinical_engineering",
        version=version,
    )
    assert pause.reached.wait(10)
    second, second_out = run(
        "second",
        services.checklist_sign_off,
        checklist=ready_checklist,
        user=people["dual"],
        role="security",
        version=version,
    )
    second.join(LOCK_WAIT_S)
    assert second.is_alive(), "the second sign-off did not wait for the checklist row lock"

    pause.release.set()
    first.join(10)
    second.join(10)
    assert "error" not in first_out, first_out
    assert isinstance(second_out.get("error"), SignOffRefused), second_out
    assert "must come from a different person" in second_out["error"].message
    assert list(SignOff.objects.values_list("role", "signed_by__username")) == [("clinical_engineering", "pg-dual")]


def test_an_edit_racing_a_sign_off_never_leaves_a_valid_sign_off_on_unreviewed_content(
    ready_checklist, people, monkeypatch
):
    # The edit holds the lock (it has changed the row, not yet committed); the signer reviewed the old version.
    pause = Paused(monkeypatch, selectors, "checklist_snapshot", thread_name="edit")
    version = ready_checklist.version
    edit, edit_out = run(
        "edit",
        services.checklist_update,
        checklist=ready_checklist,
        user=people["security"],
        changes={"disposition_reference": "WTN-99"},
        expected_version=version,
    )
    assert pause.reached.wait(10)
    sign, sign_out = run(
        "sign",
        services.checklist_sign_off,
        checklist=ready_checklist,
        user=people["biomed"],
        role="clinical_engineering",
        version=version,
    )
    sign.join(LOCK_WAIT_S)
    assert sign.is_alive(), "the sign-off did not wait for the edit's lock"

    pause.release.set()
    edit.join(10)
    sign.join(10)
    assert "error" not in edit_out, edit_out
    assert isinstance(sign_out.get("error"), SignOffRefused), sign_out
    assert f"you reviewed version {version} but the checklist is now version {version + 1}" in sign_out["error"].message
    assert not SignOff.objects.exists()


def test_a_sign_off_racing_an_edit_is_voided_by_it(ready_checklist, people, monkeypatch):
    # The other order: the sign-off holds the lock first; the edit then waits, commits, and voids it.
    pause = Paused(monkeypatch, selectors, "checklist_missing_items", thread_name="sign")
    version = ready_checklist.version
    sign, sign_out = run(
        "sign",
        services.checklist_sign_off,
        checklist=ready_checklist,
        user=people["biomed"],
        role="clinical_engineering",
        version=version,
    )
    assert pause.reached.wait(10)
    edit, edit_out = run(
        "edit",
        services.checklist_update,
        checklist=ready_checklist,
        user=people["security"],
        changes={"disposition_reference": "WTN-99"},
    )
    edit.join(LOCK_WAIT_S)
    assert edit.is_alive(), "the edit did not wait for the sign-off's lock"

    pause.release.set()
    sign.join(10)
    edit.join(10)
    assert "error" not in sign_out and "error" not in edit_out, (sign_out, edit_out)
    assert sign_out["result"].checklist_version == version
    assert (
        f"clinical engineering sign-off void: the checklist changed after it (version {version} signed, "
        f"now {version + 1})" in selectors.decommission_blockers(ready_checklist.asset)
    )


def test_an_edit_cannot_slip_in_while_the_certificate_is_issued(ready_checklist, people, monkeypatch):
    services.checklist_sign_off(
        checklist=ready_checklist, user=people["biomed"], role="clinical_engineering", version=ready_checklist.version
    )
    services.checklist_sign_off(
        checklist=ready_checklist, user=people["security"], role="security", version=ready_checklist.version
    )
    pause = Paused(monkeypatch, services, "_certificate_content", thread_name="decommission")
    decommission, decommission_out = run(
        "decommission", services.asset_decommission, asset=ready_checklist.asset, user=people["biomed"]
    )
    assert pause.reached.wait(10)
    edit, edit_out = run(
        "edit",
        services.checklist_update,
        checklist=ready_checklist,
        user=people["security"],
        changes={"disposition_recipient": "Someone else"},
    )
    edit.join(LOCK_WAIT_S)
    assert edit.is_alive(), "the edit did not wait for the decommissioning's lock"

    pause.release.set()
    decommission.join(10)
    edit.join(10)
    assert "error" not in decommission_out, decommission_out
    assert isinstance(edit_out.get("error"), ChecklistLocked), edit_out
    certificate = DecommissioningCertificate.objects.get()
    checklist = DecommissioningChecklist.objects.get(pk=ready_checklist.pk)
    assert checklist.asset.state == AssetState.DECOMMISSIONED
    assert certificate.content["checklist"]["version"] == checklist.version
    assert certificate.content["checklist"]["disposition"]["recipient"] == "GreenTech Recycling Ltd"


def test_the_database_refuses_to_rewrite_a_certificate(ready_checklist, people):
    services.checklist_sign_off(
        checklist=ready_checklist, user=people["biomed"], role="clinical_engineering", version=ready_checklist.version
    )
    services.checklist_sign_off(
        checklist=ready_checklist, user=people["security"], role="security", version=ready_checklist.version
    )
    certificate = services.asset_decommission(asset=ready_checklist.asset, user=people["biomed"])
    for sql in (
        "UPDATE decommissioning_decommissioningcertificate SET content_json = '{}' WHERE id = %s",
        "DELETE FROM decommissioning_decommissioningcertificate WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [certificate.pk])
    assert DecommissioningCertificate.objects.get().content_sha256 == certificate.content_sha256
