"""The floor map for nurses, dispatch and clinical engineering (``/map/``).

Server side of the map: who may open it (access.py), the JSON it is fed (payloads.py), the views
(views.py) and their URLs (urls.py). The live updates come through ``floormap/consumers.py``; the
page itself is ``templates/map/`` with ``static/map/``. docs/map.md describes the whole.
"""
