"""import_assets: the CSV contract of docs/design.md §5, row-by-row errors, all-or-nothing, idempotent."""

import io
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from assets.models import Asset, AssetType, Tag, TagBinding
from assets.services import tag_bind
from lifecycle.biomed.selectors import asset_next_due
from tests.factories import AssetFactory, AssetTypeFactory, TagFactory

HEADER = (
    "asset_tag,asset_type,tag_id,manufacturer,model,serial_number,unit,data_bearing,encryption_status,in_service_date"
)
GOOD = f"""{HEADER}
IP-0001,Infusion pump,C3:00:00:00:01:0A,BD,Alaris 8015,SN-1001,4 North,true,encrypted,2023-04-01
IP-0002,infusion pump,c3000000010b,BD,Alaris 8015,SN-1002,4 North,yes,,
WC-0001,Wheelchair,C3-00-00-00-02-01,Invacare,Tracer SX5,WC-77,,no,not_applicable,
"""


def write(tmp_path, text, name="assets.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run(path) -> str:
    out = io.StringIO()
    call_command("import_assets", path, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refused(path) -> str:
    err = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_assets", path, stdout=io.StringIO(), stderr=err)
    return err.getvalue() + str(excinfo.value)


def snapshot():
    return (
        list(Asset.objects.order_by("asset_tag").values()),
        list(Tag.objects.order_by("tag_id").values("tag_id", "asset_id")),
        list(TagBinding.objects.order_by("pk").values("tag_id", "asset_id", "unbound_at")),
        list(AssetType.objects.order_by("pk").values()),
    )


@pytest.mark.django_db
def test_good_file_creates_assets_types_and_tags(tmp_path):
    output = run(write(tmp_path, GOOD))
    assert "3 created" in output and "new asset types: Infusion pump, Wheelchair" in output

    pump = Asset.objects.get(asset_tag="IP-0001")
    assert (pump.asset_type.name, pump.manufacturer, pump.model, pump.serial_number, pump.unit) == (
        "Infusion pump",
        "BD",
        "Alaris 8015",
        "SN-1001",
        "4 North",
    )
    assert (pump.data_bearing, pump.encryption_status, pump.in_service_date) == (True, "encrypted", date(2023, 4, 1))
    assert Asset.objects.get(asset_tag="IP-0002").asset_type == pump.asset_type, "type names match case-insensitively"
    assert pump.tag.tag_id == "c3000000010a", "tag ids are normalised"
    assert Tag.objects.get(tag_id="C3:00:00:00:02:01").asset.asset_tag == "WC-0001"
    assert TagBinding.objects.filter(unbound_at__isnull=True).count() == 3


@pytest.mark.django_db
def test_pm_columns_set_the_last_pm_and_the_per_asset_interval(tmp_path):
    text = HEADER + ",pm_interval_days,last_pm_date\n"
    text += "IP-0001,Infusion pump,,BD,Alaris 8015,SN-1001,4 North,true,encrypted,2023-04-01,180,2026-09-01\n"
    text += "IP-0002,Infusion pump,,BD,Alaris 8015,SN-1002,4 North,true,encrypted,2023-04-01,,\n"
    run(write(tmp_path, text))
    overridden, default = Asset.objects.get(asset_tag="IP-0001"), Asset.objects.get(asset_tag="IP-0002")
    pm = overridden.schedules.get(kind="pm")
    assert (pm.interval_value, pm.interval_unit, pm.overrides_plan, pm.last_done) == (
        180,
        "days",
        True,
        date(2026, 9, 1),
    )
    assert asset_next_due(asset=overridden) == date(2027, 2, 28)
    assert default.schedules.filter(kind="pm", overrides_plan=False).exists()  # the type's plan, untouched
    assert default.schedules.get(kind="pm").last_done is None


@pytest.mark.django_db
def test_reimport_changes_nothing(tmp_path):
    path = write(tmp_path, GOOD)
    run(path)
    before = snapshot()
    assert "0 created, 0 updated, 3 unchanged" in run(path)
    assert snapshot() == before


@pytest.mark.django_db
def test_reimport_updates_changed_fields_and_rebinds_a_new_tag(tmp_path):
    run(write(tmp_path, GOOD))
    changed = GOOD.replace("SN-1001", "SN-1001-B").replace("c3000000010b", "c3000000010c")
    output = run(write(tmp_path, changed))
    assert "0 created, 2 updated, 1 unchanged" in output
    assert Asset.objects.get(asset_tag="IP-0001").serial_number == "SN-1001-B"
    pump2 = Asset.objects.get(asset_tag="IP-0002")
    assert pump2.tag.tag_id == "c3000000010c"
    old = Tag.objects.get(tag_id="c3000000010b")
    assert old.asset is None, "the replaced tag is free for reuse"
    assert TagBinding.objects.get(tag=old).unbound_at is not None, "the binding history is kept"


@pytest.mark.django_db
def test_errors_are_reported_row_by_row_and_nothing_is_written(tmp_path):
    bad = f"""{HEADER}
IP-0001,Infusion pump,C3:00:00:00:01:0A,BD,Alaris 8015,SN-1001,4 North,true,encrypted,2023-04-01,,
IP-0002,Infusion pump,not-a-tag,BD,Alaris 8015,SN-1002,4 North,maybe,scrambled,2023-13-01,,
,Wheelchair,c30000000201,Invacare,Tracer SX5,WC-77,,,,,,
IP-0001,Infusion pump,c3000000010a,BD,Alaris 8015,SN-1003,,,,,,
IP-0009,Infusion pump,,BD,Alaris 8015,SN-1009,,,,,0,yesterday
"""
    message = refused(write(tmp_path, bad.replace(HEADER, HEADER + ",pm_interval_days,last_pm_date")))
    assert "row 3 (asset_tag IP-0002): tag id 'not-a-tag' is not 12 hexadecimal digits" in message
    assert "row 3 (asset_tag IP-0002): data_bearing 'maybe' is not true/false" in message
    assert "row 3 (asset_tag IP-0002): encryption_status 'scrambled' is not one of" in message
    assert "row 3 (asset_tag IP-0002): in_service_date '2023-13-01' is not a date (YYYY-MM-DD)" in message
    assert "row 4 (asset_tag ?): asset_tag is empty" in message
    assert "row 5 (asset_tag IP-0001): asset_tag is repeated (first on row 2)" in message
    assert "row 6 (asset_tag IP-0009): pm_interval_days '0' is not a number of days from 1 to 3650" in message
    assert "row 6 (asset_tag IP-0009): last_pm_date 'yesterday' is not a date (YYYY-MM-DD)" in message
    assert "row 5 (asset_tag IP-0001): tag_id c3:00:00:00:01:0a is repeated (first on row 2)" in message
    assert "nothing was imported" in message
    assert (Asset.objects.count(), Tag.objects.count(), AssetType.objects.count()) == (0, 0, 0)


@pytest.mark.django_db
def test_bad_header_is_refused(tmp_path):
    message = refused(write(tmp_path, "asset_tag,asset_type,manufacturer,model,serial_number,seriel\nX,Y,Z,M,S,T\n"))
    assert "header: missing column(s) tag_id" in message
    assert "header: unknown column(s) seriel" in message
    assert "file is empty" in refused(write(tmp_path, ""))
    assert "file not found" in refused(str(tmp_path / "nope.csv"))


@pytest.mark.django_db
def test_a_tag_bound_to_another_asset_is_refused(tmp_path):
    other = AssetFactory(asset_tag="OLD-1")
    tag = TagFactory(tag_id="c3000000010a")

    tag_bind(tag=tag, asset=other)
    message = refused(write(tmp_path, GOOD))
    assert (
        "row 2 (asset_tag IP-0001): tag_id c3:00:00:00:01:0a is bound to asset OLD-1; unbind it there first" in message
    )
    assert Asset.objects.count() == 1


@pytest.mark.django_db
def test_existing_types_and_unbound_tags_are_reused(tmp_path):
    AssetTypeFactory(name="Wheelchair", slug="wheelchair")
    TagFactory(tag_id="c30000000201")
    output = run(write(tmp_path, GOOD))
    assert "new asset types: Infusion pump;" in output
    assert "tags registered: 2, bound: 3" in output
    assert AssetType.objects.filter(name__iexact="wheelchair").count() == 1


@pytest.mark.django_db
def test_an_unseen_asset_file_with_bom_crlf_and_only_required_columns_imports(tmp_path):
    text = "\ufeffasset_tag,asset_type,tag_id,manufacturer,model,serial_number\r\n"
    text += "".join(
        f"VS-{i:04d},Vital-signs monitor,{0xD1000000 + i:012x},Philips,IntelliVue MX450,PH{i}\r\n" for i in range(1200)
    )
    path = tmp_path / "unseen.csv"
    path.write_bytes(text.encode("utf-8"))
    err = io.StringIO()
    call_command("import_assets", str(path), stdout=io.StringIO(), stderr=err)
    assert Asset.objects.count() == 1200 and Tag.objects.filter(asset__isnull=False).count() == 1200
    assert "500/1200 rows" in err.getvalue() and "1200/1200 rows" in err.getvalue(), "long imports show progress"


# Asset types are matched by name (issue: types with empty slugs merged) --------------------------------


@pytest.mark.django_db
def test_types_whose_names_make_no_ascii_slug_stay_different_types(tmp_path):
    text = "asset_tag,asset_type,tag_id,manufacturer,model,serial_number\n"
    text += "JP-1,輸液ポンプ,,Terumo,TE-171,S1\nJP-2,人工呼吸器,,Nihon Kohden,NKV-330,S2\n"
    text += "X-1,!!!,,A,M,S3\nX-2,???,,A,M,S4\nJP-3,輸液ポンプ,,Terumo,TE-171,S5\n"
    path = write(tmp_path, text)
    assert "new asset types: 輸液ポンプ, 人工呼吸器, !!!, ???" in run(path)
    types = {tag: Asset.objects.get(asset_tag=tag).asset_type for tag in ("JP-1", "JP-2", "JP-3", "X-1", "X-2")}
    assert [types[tag].name for tag in ("JP-1", "JP-2", "X-1", "X-2")] == ["輸液ポンプ", "人工呼吸器", "!!!", "???"]
    assert types["JP-3"] == types["JP-1"]
    slugs = list(AssetType.objects.values_list("slug", flat=True))
    assert len(set(slugs)) == 4 and all(slugs), slugs
    before = snapshot()
    assert "0 created, 0 updated, 5 unchanged" in run(path), "the same names find the same types again"
    assert snapshot() == before


@pytest.mark.django_db
def test_a_new_type_whose_slug_is_taken_gets_its_own_slug(tmp_path):
    existing = AssetTypeFactory(name="Infusion pump", slug="infusion-pump")
    run(write(tmp_path, "asset_tag,asset_type,tag_id,manufacturer,model,serial_number\nX-1,Infusion-pump,,A,M,S\n"))
    new = Asset.objects.get(asset_tag="X-1").asset_type
    assert new != existing and (new.name, new.slug) == ("Infusion-pump", "infusion-pump-2")


# Bad input is a row error, never a traceback ----------------------------------------------------------

REQUIRED = "asset_tag,asset_type,tag_id,manufacturer,model,serial_number"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        (REQUIRED, "X-1," + "T" * 101 + ",,A,M,S", "row 2 (asset_tag X-1): asset_type is longer than 100 characters"),
        (
            REQUIRED + ",pm_interval_days",
            "X-1,Pump,,A,M,S,²",
            "row 2 (asset_tag X-1): pm_interval_days '²' is not a number of days from 1 to 3650",
        ),
        (REQUIRED + ",pm_interval_days", "X-1,Pump,,A,M,S," + "9" * 5000, "pm_interval_days '9999"),
        (REQUIRED + ",pm_interval", "X-1,Pump,,A,M,S,٣٦٥", "pm_interval '٣٦٥' is not an interval"),
        (REQUIRED, "X-1,Pump,,A\x00B,M,S", "row 2 (asset_tag X-1): manufacturer contains a NUL character"),
        (
            REQUIRED + ",in_service_date",
            "X-1,Pump,,A,M,S,9999-12-01",
            "row 2 (asset_tag X-1): in_service_date: 9999-12-01 is not between 1900-01-01 and 2100-12-31",
        ),
        (
            REQUIRED + ",purchase_date",
            "X-1,Pump,,A,M,S,0001-01-01",
            "row 2 (asset_tag X-1): purchase_date: 0001-01-01 is not between 1900-01-01 and 2100-12-31",
        ),
        (
            REQUIRED + ",type_code_system,type_code,type_code_display",
            "X-1,Pump,,A,M,S,http://snomed.info/sct,1²3100,Pump",
            "type_code: SNOMED CT code '1²3100' is not a concept id",
        ),
    ],
)
def test_values_the_database_would_refuse_are_row_errors(tmp_path, header, row, expected):
    message = refused(write(tmp_path, f"{header}\n{row}\n"))
    assert expected in message and "nothing was imported" in message
    assert not Asset.objects.exists() and not AssetType.objects.exists()


@pytest.mark.django_db
def test_a_short_row_is_refused_instead_of_blanking_the_columns_it_lacks(tmp_path):
    header = REQUIRED + ",unit,firmware_version"
    run(write(tmp_path, f"{header}\nX-1,Pump,,A,M,S,ICU,2.1\n"))
    message = refused(write(tmp_path, f"{header}\nX-1,Pump,,A,M,S\n"))
    assert "row 2 (asset_tag X-1): has fewer fields than the header (6 of 8)" in message
    assert Asset.objects.values_list("unit", "firmware_version").get() == ("ICU", "2.1")


@pytest.mark.django_db
def test_a_column_named_twice_in_the_header_is_refused(tmp_path):
    message = refused(write(tmp_path, f"{REQUIRED},unit,unit\nX-1,Pump,,A,M,S,ICU,\n"))
    assert "header: column(s) unit appear more than once" in message
    assert not Asset.objects.exists()
