"""Tag ids are normalised everywhere, and a tag is on at most one asset at a time, with history."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from assets.models import Tag, TagBinding
from assets.services import TagBindingError, tag_bind, tag_unbind
from declarations.tag_ids import TagIdError, format_tag_id, normalize_tag_id
from tests.factories import AssetFactory, TagFactory


@pytest.mark.parametrize(
    "raw", ["C3:00:00:00:01:0A", "c3000000010a", "C3-00-00-00-01-0a", "c3.00.00.00.01.0a", " c3:00:00:00:01:0a "]
)
def test_tag_ids_normalise_to_12_lowercase_hex(raw):
    assert normalize_tag_id(raw) == "c3000000010a"
    assert format_tag_id("c3000000010a") == "c3:00:00:00:01:0a"


@pytest.mark.parametrize("raw", ["c3:00:00:00:01", "zz000000010a", "", "c3000000010a0b", 12345])
def test_malformed_tag_ids_are_refused_by_name(raw):
    with pytest.raises(TagIdError, match="tag id"):
        normalize_tag_id(raw)


@pytest.mark.django_db
def test_the_model_stores_and_finds_tags_in_any_spelling():
    Tag.objects.create(tag_id="C3:00:00:00:01:0A")
    assert Tag.objects.get(tag_id="c3-00-00-00-01-0a").tag_id == "c3000000010a"
    with pytest.raises(IntegrityError), transaction.atomic():
        Tag.objects.create(tag_id="c3000000010A")
    with pytest.raises(ValidationError, match="not 12 hexadecimal digits"):
        Tag(tag_id="nonsense").full_clean()


@pytest.mark.django_db
def test_binding_moves_a_tag_between_assets_only_through_unbind_and_keeps_history(biomed):
    pump, spare = AssetFactory(), AssetFactory()
    tag = TagFactory()
    tag_bind(tag=tag, asset=pump, user=biomed)
    with pytest.raises(TagBindingError, match=f"bound to asset {pump.asset_tag}"):
        tag_bind(tag=tag, asset=spare)
    tag_unbind(tag=tag, user=biomed)
    tag_bind(tag=tag, asset=spare)
    tag.refresh_from_db()
    assert tag.asset == spare
    history = list(TagBinding.objects.filter(tag=tag).order_by("bound_at").values_list("asset", "unbound_by"))
    assert history == [(pump.pk, biomed.pk), (spare.pk, None)]


@pytest.mark.django_db
def test_a_new_tag_on_an_asset_replaces_its_old_one():
    pump = AssetFactory()
    old, new = TagFactory(), TagFactory()
    tag_bind(tag=old, asset=pump)
    tag_bind(tag=new, asset=pump)
    old.refresh_from_db()
    assert old.asset is None and pump.tag == new
    assert TagBinding.objects.filter(asset=pump, unbound_at__isnull=True).get().tag == new


@pytest.mark.django_db
def test_the_database_refuses_two_open_bindings_for_one_tag():
    tag = TagFactory()
    TagBinding.objects.create(tag=tag, asset=AssetFactory(), bound_at="2026-01-01T00:00Z")
    with pytest.raises(IntegrityError), transaction.atomic():
        TagBinding.objects.create(tag=tag, asset=AssetFactory(), bound_at="2026-01-02T00:00Z")
