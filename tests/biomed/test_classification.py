"""Classification: high-risk and life-support flags (type or asset), AEM with its rationale, the risk and security
fields as filters in the admin and the API, the security inventory, and the report's risk groups."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from assets.models import Asset
from lifecycle.biomed import reports
from lifecycle.biomed.models import MaintenanceSchedule, ScheduledWork
from lifecycle.biomed.selectors import high_risk_q, life_support_q, security_inventory
from lifecycle.models import WorkOrder
from tests.admin.conftest import make_staff
from tests.api.conftest import client_for
from tests.factories import AssetFactory, AssetTypeFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet():
    vents = AssetTypeFactory(name="Ventilator", high_risk=True, life_support=True)
    pumps = AssetTypeFactory(name="Infusion pump", high_risk=True)
    chairs = AssetTypeFactory(name="Wheelchair")
    return {
        "VENT": AssetFactory(asset_tag="VENT", asset_type=vents, networked=True, encryption_status="encrypted"),
        "PUMP": AssetFactory(
            asset_tag="PUMP",
            asset_type=pumps,
            data_bearing=True,
            encryption_status="not_encrypted",
            firmware_version="4.2",
        ),
        "PUMP-LOW": AssetFactory(asset_tag="PUMP-LOW", asset_type=pumps, high_risk=False),  # asset overrides type
        "CHAIR": AssetFactory(asset_tag="CHAIR", asset_type=chairs, aem=True, aem_rationale="no failure history"),
        "CHAIR-HIGH": AssetFactory(asset_tag="CHAIR-HIGH", asset_type=chairs, risk_class="high"),
        "CHAIR-LS": AssetFactory(asset_tag="CHAIR-LS", asset_type=chairs, life_support=True),
    }


def tags(queryset):
    return sorted(queryset.values_list("asset_tag", flat=True))


def test_effective_high_risk_and_life_support(fleet):
    assert tags(Asset.objects.filter(high_risk_q())) == ["CHAIR-HIGH", "CHAIR-LS", "PUMP", "VENT"]
    assert tags(Asset.objects.filter(life_support_q())) == ["CHAIR-LS", "VENT"]
    assert tags(security_inventory()) == ["PUMP", "VENT"]


def test_aem_needs_a_rationale_and_is_not_for_life_support(fleet):
    chair = fleet["CHAIR"]
    chair.aem_rationale = " "
    with pytest.raises(ValidationError, match="needs its rationale"):
        chair.clean()  # the admin form runs it (full_clean would touch the protected state field)
    vent = fleet["VENT"]
    vent.aem, vent.aem_rationale = True, "vendor says so"
    with pytest.raises(ValidationError, match="life-support equipment cannot"):
        vent.clean()


def test_api_filters(fleet):
    client = client_for(UserFactory(username="dispatcher-x", roles=["Dispatch"]))
    # The filters on security fields read them: only for the roles that may (tests/security/test_least_privilege.py).
    engineer = client_for(UserFactory(username="engineer-x", roles=["Clinical engineering"]))

    def listed(**params):
        security = {"security_inventory", "encryption_status", "risk_class", "networked"} & set(params)
        response = (engineer if security else client).get("/api/v1/assets/", params)
        assert response.status_code == 200, response.content[:300]
        if security:
            assert client.get("/api/v1/assets/", params).status_code == 400  # Dispatch may not read them
        return sorted(a["asset_tag"] for a in response.json()["results"])

    assert listed(high_risk="true") == ["CHAIR-HIGH", "CHAIR-LS", "PUMP", "VENT"]
    assert listed(high_risk="false") == ["CHAIR", "PUMP-LOW"]
    assert listed(life_support="true") == ["CHAIR-LS", "VENT"]
    assert listed(security_inventory="true") == ["PUMP", "VENT"]
    assert listed(encryption_status="not_encrypted") == ["PUMP"]
    assert listed(aem="true") == ["CHAIR"]
    assert listed(risk_class="high") == ["CHAIR-HIGH"]
    assert listed(data_bearing="true") == ["PUMP"]
    assert listed(networked="true") == ["VENT"]
    detail = client.get(f"/api/v1/assets/{fleet['PUMP-LOW'].pk}/").json()
    assert (detail["high_risk"], detail["life_support"], detail["aem"]) == (False, False, False)
    assert client.get(f"/api/v1/assets/{fleet['VENT'].pk}/").json()["high_risk"] is True


def test_admin_filters_and_export(fleet, client, biomed):
    client.force_login(make_staff(biomed))
    url = reverse("admin:assets_asset_changelist")

    def listed(**params):
        response = client.get(url, params)
        assert response.status_code == 200
        return sorted(a.asset_tag for a in response.context["cl"].result_list)

    assert listed(**{"class": "high_risk"}) == ["CHAIR-HIGH", "CHAIR-LS", "PUMP", "VENT"]
    assert listed(**{"class": "life_support"}) == ["CHAIR-LS", "VENT"]
    assert listed(**{"class": "security"}) == ["PUMP", "VENT"]
    assert listed(**{"class": "other"}) == ["CHAIR", "PUMP-LOW"]
    assert listed(risk_class__exact="high") == ["CHAIR-HIGH"]
    assert listed(data_bearing__exact="1") == ["PUMP"]
    assert listed(networked__exact="1") == ["VENT"]
    assert listed(encryption_status__exact="encrypted") == ["VENT"]
    assert listed(aem__exact="1") == ["CHAIR"]
    csv_text = b"".join(client.get(reverse("admin:assets_asset_export"), {"class": "security"}).streaming_content)
    lines = csv_text.decode().splitlines()
    assert lines[0].endswith("risk_class,encryption_status,firmware_version,aem")
    assert any(line.startswith("PUMP,") and ",not_encrypted,4.2," in line for line in lines)


def test_the_report_groups_by_the_effective_flag(fleet):
    user = UserFactory(username="tech-c")
    for tag in ("PUMP", "PUMP-LOW"):
        asset = fleet[tag]
        order = WorkOrder.objects.create(asset=asset, kind="pm", opened_by=user)
        ScheduledWork.objects.create(
            work_order=order,
            schedule=MaintenanceSchedule.objects.get(asset=asset, kind="pm"),
            due_date=date(2026, 11, 2),
        )
    rows = reports.accreditation_rows(period=reports.Period(date(2026, 11, 1), date(2026, 11, 30)))
    assert {w.work_order.asset.asset_tag: w.risk_group for w in rows} == {"PUMP": "high", "PUMP-LOW": "other"}
