"""Default room-type rule (docs/design.md §3): entering a soiled utility room moves in-use or available equipment to soiled."""

from django.db import migrations

DEFAULT_RULES = [
    {
        "room_type": "soiled_utility",
        "from_states": ["in_use", "available"],
        "to_state": "soiled",
        "description": "Equipment left in a soiled utility room must be reprocessed before use.",
    },
]


def seed_rules(apps, schema_editor):
    RoomTypeRule = apps.get_model("lifecycle", "RoomTypeRule")
    for rule in DEFAULT_RULES:
        if not RoomTypeRule.objects.filter(room_type=rule["room_type"], to_state=rule["to_state"]).exists():
            RoomTypeRule.objects.create(active=True, **rule)


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0002_lifecycle_records")]

    operations = [migrations.RunPython(seed_rules, migrations.RunPython.noop)]
