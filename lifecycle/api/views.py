from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from lifecycle.api.serializers import StateDefinitionSerializer
from lifecycle.states import all_state_definitions


class StateListView(APIView):
    """The lifecycle states and their shared definitions: the same text as the admin, the map and the docs."""

    @extend_schema(responses=StateDefinitionSerializer(many=True), operation_id="states_list")
    def get(self, request):
        return Response(StateDefinitionSerializer(all_state_definitions(), many=True).data)
