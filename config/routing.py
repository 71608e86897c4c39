"""WebSocket routes. The floor-map consumers register here."""

from django.urls import path

from floormap.consumers import FloorConsumer

websocket_urlpatterns: list = [
    path("ws/floors/<int:floor_id>/", FloorConsumer.as_asgi()),
]
