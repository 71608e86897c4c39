from django.contrib import admin

from assets.models import Asset, AssetType, Tag, TagBinding
from lifecycle.display import state_badge
from lifecycle.history import record_changes, snapshot
from lifecycle.models import TransitionLog


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


class TransitionLogInline(admin.TabularInline):
    """The asset's lifecycle history, newest first; append-only, so nothing here is editable."""

    model = TransitionLog
    extra = 0
    can_delete = False
    fields = ["at", "transition", "from_state", "to_state", "user", "room", "source", "note"]
    readonly_fields = fields
    ordering = ["-at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = [
        "asset_tag",
        "asset_type",
        "state_badge",
        "manufacturer",
        "model",
        "unit",
        "current_room",
        "last_seen",
    ]
    list_filter = ["state", "asset_type", "unit", "data_bearing", "risk_class"]
    list_select_related = ["asset_type", "current_room"]
    search_fields = ["asset_tag", "serial_number", "model", "tag__tag_id"]
    exclude = ["state"]  # protected: only lifecycle transitions change it
    readonly_fields = [
        "state_badge",
        "next_pm_due",
        "current_room",
        "location_confidence",
        "located_at",
        "last_seen",
        "created_at",
        "updated_at",
    ]
    inlines = [TagBindingInline, TransitionLogInline]

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return state_badge(obj.state)

    @admin.display(description="next PM due")
    def next_pm_due(self, obj):
        return obj.next_pm_due or "unknown (no PM or in-service date)"

    def save_model(self, request, obj, form, change):
        # Change history: who changed which field, kept next to the asset (lifecycle.history).
        before = snapshot(Asset.objects.get(pk=obj.pk)) if change else {}
        super().save_model(request, obj, form, change)
        record_changes(instance=obj, user=request.user, before=before, after=snapshot(obj))


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["__str__", "asset", "battery_percent", "last_seen"]
    list_select_related = ["asset"]
    search_fields = ["tag_id", "asset__asset_tag"]
    readonly_fields = ["asset", "last_seen", "registered_at"]
