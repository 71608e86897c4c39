"""Room-type rules may only take availability away (issue 13, defect 3).

Existing rules that would give availability back (a target other than soiled, cleaning or biomed) or
that start from biomed, reserved or decommissioned are DEACTIVATED, not deleted, and their description
says why, so an administrator sees them in the admin and can fix or delete them. Then the database
refuses any active rule with another target.
"""

from django.db import migrations, models

TARGETS = ("soiled", "cleaning", "biomed")
NEVER_FROM = ("biomed", "reserved", "decommissioned")


def deactivate_rules_that_give_availability(apps, schema_editor):
    RoomTypeRule = apps.get_model("lifecycle", "RoomTypeRule")
    for rule in RoomTypeRule.objects.filter(active=True):
        from_states = rule.from_states if isinstance(rule.from_states, list) else []
        problems = []
        if rule.to_state not in TARGETS:
            problems.append(f"target {rule.to_state} is not one of {', '.join(TARGETS)}")
        held = [s for s in from_states if s in NEVER_FROM]
        if held:
            problems.append(f"moves equipment that is {', '.join(held)}")
        if problems:
            note = f"[deactivated by migration 0006: {'; '.join(problems)}] "
            rule.description = (note + rule.description)[:200]
            rule.active = False
            rule.save(update_fields=["active", "description"])


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0005_admin_role_permissions")]

    operations = [
        migrations.RunPython(deactivate_rules_that_give_availability, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="roomtyperule",
            constraint=models.CheckConstraint(
                condition=models.Q(("active", False), ("to_state__in", ["soiled", "cleaning", "biomed"]), _connector="OR"),
                name="room_rule_only_takes_availability_away",
            ),
        ),
    ]
