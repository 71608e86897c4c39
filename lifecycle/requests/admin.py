"""Equipment requests in the admin: read-only. Dispatch works them through the API, whose services lock,
reserve and release; editing a row here would bypass all of that."""

from django.contrib import admin

from lifecycle.requests.models import EquipmentRequest


@admin.register(EquipmentRequest)
class EquipmentRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "priority", "status", "asset_type", "destination_room", "asset", "requested_by"]
    list_filter = ["status", "priority", "asset_type"]
    list_select_related = ["asset_type", "destination_room", "asset", "requested_by"]
    search_fields = ["asset__asset_tag", "destination_room__code", "note"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
