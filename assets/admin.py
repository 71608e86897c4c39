from django.contrib import admin

from assets.models import Asset, AssetType, Tag, TagBinding


@admin.register(AssetType)
class AssetTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "default_pm_interval_days"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


class TagBindingInline(admin.TabularInline):
    model = TagBinding
    fk_name = "asset"
    extra = 0
    can_delete = False
    fields = ["tag", "bound_at", "bound_by", "unbound_at", "unbound_by"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["asset_tag", "asset_type", "manufacturer", "model", "unit", "current_room", "last_seen"]
    list_filter = ["asset_type", "unit", "data_bearing", "risk_class"]
    list_select_related = ["asset_type", "current_room"]
    search_fields = ["asset_tag", "serial_number", "model", "tag__tag_id"]
    readonly_fields = ["current_room", "location_confidence", "located_at", "last_seen", "created_at", "updated_at"]
    inlines = [TagBindingInline]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["__str__", "asset", "battery_percent", "last_seen"]
    list_select_related = ["asset"]
    search_fields = ["tag_id", "asset__asset_tag"]
    readonly_fields = ["asset", "last_seen", "registered_at"]
