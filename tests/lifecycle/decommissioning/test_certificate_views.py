"""The printable certificate page and its JSON export: who may see them and what they show."""

import hashlib
import json
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from lifecycle.decommissioning import services


@pytest.fixture
def certificate(signed_checklist, asset, biomed):
    return services.asset_decommission(asset=asset, user=biomed)


def urls(certificate):
    return (
        reverse("decommissioning:certificate-detail", args=[certificate.pk]),
        reverse("decommissioning:certificate-json", args=[certificate.pk]),
    )


def test_the_urls_are_where_the_docs_say(certificate):
    page, export = urls(certificate)
    assert page == f"/decommissioning/certificates/{certificate.pk}/"
    assert export == f"/decommissioning/certificates/{certificate.pk}/certificate.json"


@pytest.mark.parametrize(
    ("who", "status"),
    [("biomed", 200), ("security_officer", 200), ("nurse", 403), ("dispatcher", 403)],
)
def test_access_by_role(client, certificate, who, status, request):
    client.force_login(request.getfixturevalue(who))
    for url in urls(certificate):
        assert client.get(url).status_code == status, url


def test_superusers_may_see_certificates(client, certificate, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.org", "x"))
    for url in urls(certificate):
        assert client.get(url).status_code == 200


def test_anonymous_visitors_are_sent_to_log_in(client, certificate):
    for url in urls(certificate):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_an_unknown_certificate_is_404(client, biomed, db):
    client.force_login(biomed)
    assert client.get(f"/decommissioning/certificates/{uuid.uuid4()}/").status_code == 404
    assert client.get("/decommissioning/certificates/not-a-uuid/").status_code == 404


def test_the_page_shows_the_asset_the_signers_the_custody_chain_and_the_hash(
    client, certificate, asset, biomed, security_officer
):
    biomed.first_name, biomed.last_name = "Bea", "Medina"
    biomed.save()
    client.force_login(security_officer)
    html = client.get(urls(certificate)[0]).content.decode()

    assert "Certificate of sanitization and disposal" in html
    assert asset.asset_tag in html and asset.serial_number in html
    # Signers as they were at issue time (the certificate does not follow later account renames).
    assert "Clinical engineering" in html and "Security" in html
    assert ">biomed<" in html and ">security<" in html
    assert "Bea Medina" not in html
    assert "Purge" in html and "NIST SP 800-88" in html
    assert "GreenTech Recycling Ltd" in html and "S-1" in html
    assert f"issued {timezone.localtime(certificate.issued_at):%Y-%m-%d %H:%M:%S}" in html
    assert certificate.content_sha256 in html
    assert "The stored content matches this hash." in html
    assert '<style media="print">' in html and "@page" in html


def test_the_json_export_carries_the_content_and_a_hash_anyone_can_recompute(client, certificate, biomed):
    client.force_login(biomed)
    response = client.get(urls(certificate)[1])
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    body = json.loads(response.content)

    canonical = json.dumps(body["certificate"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode("utf-8")).hexdigest() == body["content_sha256"]
    assert body["content_sha256"] == certificate.content_sha256
    assert body["hash_algorithm"] == "SHA-256"
    assert {s["signed_by"]["username"] for s in body["certificate"]["sign_offs"]} == {"biomed", "security"}
