#!/usr/bin/env python3
"""A tiny asset.moved receiver that keeps a CMMS's "current location" field up to date (docs/integrations.md).

Standard library only. It checks each delivery's signature (HMAC-SHA256 of "<t>.<body>", at most 5 minutes
old), ignores anything that is not asset.moved, and records the room per asset tag, newest entered_at
winning, so retried or out-of-order deliveries are harmless. The "CMMS" here is a JSON file; replace
``Cmms.set_location`` with your CMMS's API call.

    WEBHOOK_SECRET=<the secret shown when you subscribed> python3 docs/cmms_receiver.py --port 8787 --store cmms.json
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOLERANCE_SECONDS = 300


def verify(secret: str, body: bytes, header: str, now: float | None = None) -> bool:
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp, given = int(parts["t"]), parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


class Cmms:
    """Stand-in for the CMMS: asset tag -> current location, kept in a JSON file."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()

    def read(self) -> dict:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def set_location(self, data: dict) -> bool:
        tag, room = data["asset"]["asset_tag"], data["to_room"]
        with self.lock:
            records = self.read()
            current = records.get(tag)
            if current and current["entered_at"] >= data["entered_at"]:
                return False  # an older move arriving late (a retry): keep the newer one
            records[tag] = {
                "room": room["code"],
                "room_name": room["name"],
                "floor": room["floor"]["code"],
                "building": room["building"]["code"],
                "fhir_location": room["fhir"]["reference"],
                "entered_at": data["entered_at"],
            }
            self.path.write_text(json.dumps(records, indent=2, sort_keys=True))
            return True


def make_server(*, secret: str, store: Path, host: str = "127.0.0.1", port: int = 8787) -> ThreadingHTTPServer:
    cmms = Cmms(store)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not verify(secret, body, self.headers.get("X-Webhook-Signature", "")):
                self.send_response(401)  # not from our asset tracker (or replayed): refuse
                self.end_headers()
                return
            event = json.loads(body)
            if event.get("event") == "asset.moved":
                cmms.set_location(event["data"])
            self.send_response(204)  # answer fast; the tracker retries anything else
            self.end_headers()

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--store", type=Path, default=Path("cmms_locations.json"))
    args = parser.parse_args()
    secret = os.environ.get("WEBHOOK_SECRET")
    if not secret:
        raise SystemExit("set WEBHOOK_SECRET to the secret shown when you created the subscription")
    server = make_server(secret=secret, store=args.store, host=args.host, port=args.port)
    print(f"listening on http://{args.host}:{server.server_address[1]}/ ; CMMS locations in {args.store}")
    server.serve_forever()


if __name__ == "__main__":
    main()
