from django.contrib import admin

from locations.models import Building, Floor, Receiver, Room, Site


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(Building)
class BuildingAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "site"]
    list_filter = ["site"]
    search_fields = ["code", "name"]


@admin.register(Floor)
class FloorAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "level", "building"]
    list_filter = ["building"]
    list_select_related = ["building"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "room_type", "unit", "floor", "area_m2"]
    list_filter = ["room_type", "floor__building", "floor"]
    list_select_related = ["floor__building"]
    search_fields = ["code", "name", "unit"]
    readonly_fields = ["site", "centroid_x", "centroid_y", "area_m2"]


@admin.register(Receiver)
class ReceiverAdmin(admin.ModelAdmin):
    list_display = ["gateway_id", "floor", "room", "rssi_at_1m", "active", "last_heard"]
    list_filter = ["active", "floor__building", "floor"]
    list_select_related = ["floor__building", "room"]
    search_fields = ["gateway_id"]
    raw_id_fields = ["room"]
