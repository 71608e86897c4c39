"""The MQTT front: ``manage.py ingest_mqtt`` (paho-mqtt 2).

- Subscribes to ``rtls/+/sightings`` (the canonical body) and ``rtls/+/cassia`` (Cassia-style scan
  messages, see adapters.py) at QoS 1, with a fixed client id and a persistent session
  (clean_session False), so the broker keeps queueing messages while the worker is down.
- Acknowledges a message (PUBACK, with paho's manual_ack) only once its sightings are on the queue. If the
  queue is down the message stays unacknowledged, the worker reconnects, and the broker delivers it again.
- A malformed message is logged and counted, and acknowledged: redelivering it would never make it valid.
- The gateway in the topic must be the gateway in the body; otherwise the message is refused and counted.
  (The broker's ACL lets each gateway publish only to its own topic: docs/gateways.md.)
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from django.conf import settings

from config.security_events import clean_for_log, security_event
from locations.engine.types import BatchError
from locations.ingest.adapters import adapt
from locations.ingest.auth import note_gateway_auth_failure
from locations.ingest.codec import body_gateway, decode_any, decode_body
from locations.ingest.front import FrontResult, accept_body
from locations.ingest.queue import QueueUnavailable

logger = logging.getLogger(__name__)

KINDS = ("sightings", "cassia")


@dataclass(slots=True)
class MqttStats:
    messages: int = 0
    accepted_sightings: int = 0
    rejected_items: int = 0
    malformed: int = 0  # not JSON, not a batch, or an unexpected topic
    refused: int = 0  # the body's gateway is not the topic's gateway
    queue_failures: int = 0  # could not enqueue: left unacknowledged for redelivery
    reasons: dict[str, int] = field(default_factory=dict)

    def count(self, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    status: str  # "accepted", "malformed" or "refused"
    detail: str = ""
    result: FrontResult | None = None


def topic_parts(topic: str, prefix: str) -> tuple[str, str] | None:
    """'rtls/gw-4w-401/sightings' -> ('gw-4w-401', 'sightings'); None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or parts[2] not in KINDS:
        return None
    return parts[1], parts[2]


def handle_message(topic: str, payload: bytes, *, prefix: str, queue=None, received_at: float | None = None):
    """One MQTT message through the same front as HTTP. Raises QueueUnavailable (do not acknowledge)."""
    received_at = time.time() if received_at is None else received_at
    limit = getattr(settings, "INGEST_MQTT_MAX_MESSAGE_BYTES", 256 * 1024)
    if len(payload) > limit:  # refused before parsing: a huge message must not cost memory or CPU
        return MessageOutcome("malformed", f"message of {len(payload):,} bytes is larger than the {limit:,} allowed")
    parts = topic_parts(topic, prefix)
    if parts is None:
        return MessageOutcome("malformed", f"unexpected topic {clean_for_log(topic)!r}")
    gateway_id, kind = parts
    try:
        body = decode_body(payload) if kind == "sightings" else decode_any(payload)
    except (ValueError, RecursionError) as exc:
        return MessageOutcome("malformed", f"not valid JSON: {exc}")
    if kind == "cassia":
        try:
            body = adapt("cassia", body, gateway_id=gateway_id, now=received_at).body
        except BatchError as exc:
            return MessageOutcome("malformed", str(exc))
    elif isinstance(body_gateway(body), str) and body_gateway(body) != gateway_id:
        # The broker authenticated the publisher for this topic's gateway only (docs/gateways.md).
        reason = f"topic is for gateway {gateway_id} but the body says {body_gateway(body)}"
        security_event("policy.refused", action="ingest.sightings", door="mqtt", principal=gateway_id, reason=reason)
        return MessageOutcome("refused", reason)
    try:
        result = accept_body(body, received_at=received_at, queue=queue)
    except BatchError as exc:
        return MessageOutcome("malformed", str(exc))
    return MessageOutcome("accepted", result=result)


def _note_refused(topic: str, prefix: str, detail: str) -> None:
    """A message for another gateway than its topic's: a security event, limited per topic gateway (the
    broker's ACL makes the topic the publisher's identity; its own failed logins are in the broker's log)."""

    parts = topic_parts(topic, prefix)
    note_gateway_auth_failure(source=f"mqtt:{parts[0] if parts else topic}", door="mqtt", reason=detail)


def client_options(url: str) -> dict:
    """mqtt://user:password@host:1883 or mqtts://host:8883 -> host, port, credentials, tls."""
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT_URL scheme {parsed.scheme!r} is not supported; use mqtt:// or mqtts://")
    tls = parsed.scheme in ("mqtts", "ssl")
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or (8883 if tls else 1883),
        "username": unquote(parsed.username) if parsed.username else None,
        "password": unquote(parsed.password) if parsed.password else None,
        "tls": tls,
    }


class MqttIngest:
    def __init__(self, *, url: str, client_id: str, prefix: str, queue=None, enqueue_retry_s: float = 10.0):
        import paho.mqtt.client as mqtt  # noqa: PLC0415 — the MQTT client loads only in the MQTT ingest process

        self.options = client_options(url)
        self.prefix = prefix
        self.queue = queue
        self.enqueue_retry_s = enqueue_retry_s
        self.stats = MqttStats()
        self.subscribed = threading.Event()
        self._reconnect = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if self.options["username"]:
            self.client.username_pw_set(self.options["username"], self.options["password"])
        if self.options["tls"]:
            self.client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    @property
    def topics(self) -> list[tuple[str, int]]:
        return [(f"{self.prefix}/+/{kind}", 1) for kind in KINDS]

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            logger.error("MQTT connection refused: %s", reason_code)
            return
        logger.info("MQTT connected (session present: %s)", flags.session_present)
        client.subscribe(self.topics)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        logger.info("MQTT subscribed to %s", ", ".join(topic for topic, _ in self.topics))
        self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.subscribed.clear()
        logger.warning("MQTT disconnected: %s", reason_code)

    def _on_message(self, client, userdata, message):
        self.stats.messages += 1
        topic = clean_for_log(message.topic)  # a gateway chooses its topic: never log it raw
        deadline = time.monotonic() + self.enqueue_retry_s
        delay = 0.1
        while True:
            try:
                outcome = handle_message(message.topic, message.payload, prefix=self.prefix, queue=self.queue)
                break
            except QueueUnavailable as exc:
                if time.monotonic() >= deadline:
                    self.stats.queue_failures += 1
                    logger.error(
                        "could not queue MQTT message %s on %s: %s; it will be redelivered",
                        message.mid,
                        topic,
                        exc,
                    )
                    self._reconnect.set()  # no PUBACK: the broker resends it once we reconnect
                    return
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except Exception:  # a bug must not stop the worker; the message is dropped loudly
                logger.exception("MQTT message %s on %s could not be handled", message.mid, topic)
                self.stats.malformed += 1
                self.stats.count("internal error")
                client.ack(message.mid, message.qos)
                return
        if outcome.status == "accepted":
            result = outcome.result
            self.stats.accepted_sightings += result.accepted
            self.stats.rejected_items += len(result.rejected)
            for rejection in result.rejected:
                self.stats.count(rejection.reason.split(" ")[0])
            if result.rejected:
                logger.info(
                    "MQTT %s: %d item(s) rejected, first: %s",
                    topic,
                    len(result.rejected),
                    clean_for_log(result.rejected[0].reason),
                )
        elif outcome.status == "refused":
            self.stats.refused += 1
            _note_refused(message.topic, self.prefix, outcome.detail)
            self.stats.count("gateway mismatch")
            logger.warning("MQTT message on %s refused: %s", topic, clean_for_log(outcome.detail))
        else:
            self.stats.malformed += 1
            self.stats.count("malformed")
            logger.warning("MQTT message on %s is malformed: %s", topic, clean_for_log(outcome.detail))
        client.ack(message.mid, message.qos)

    def run(self, *, stop: threading.Event, max_seconds: float | None = None, report_every_s: float = 60.0):
        self.client.connect_async(self.options["host"], self.options["port"], keepalive=30)
        self.client.loop_start()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        reported = time.monotonic()
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                stop.wait(0.2)
                if self._reconnect.is_set():
                    # Drop the connection without acknowledging: the broker redelivers on reconnect.
                    self._reconnect.clear()
                    self.client.disconnect()
                    self.client.loop_stop()
                    stop.wait(1.0)
                    self.client.connect_async(self.options["host"], self.options["port"], keepalive=30)
                    self.client.loop_start()
                if time.monotonic() - reported >= report_every_s:
                    reported = time.monotonic()
                    logger.info("MQTT ingest: %s", self.stats.as_dict())
        finally:
            self.client.disconnect()
            self.client.loop_stop()
        return self.stats
