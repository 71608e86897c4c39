from rest_framework import serializers


class StateDefinitionSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="Machine name, as stored and as used in filters.")
    label = serializers.CharField()
    definition = serializers.CharField(help_text="The one agreed meaning of the state (DESIGN.md §2).")
    colour = serializers.CharField(help_text='Background colour, "#rrggbb"; white text on it is readable.')
    icon = serializers.CharField(help_text="A Unicode symbol that identifies the state without colour.")
    shape = serializers.CharField(help_text="Map marker shape, unique per state.")
    pattern = serializers.CharField(help_text="Fill pattern hint: solid, stripes, dots, hatch, outline.")
    usable = serializers.BooleanField(help_text="May be handed to a patient now.")
    terminal = serializers.BooleanField(help_text="No transition leaves this state.")
