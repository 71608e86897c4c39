"""WebSocket routes. The floor-map consumers register here."""

websocket_urlpatterns: list = []
