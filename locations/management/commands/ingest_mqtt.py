import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from locations.ingest.mqtt import MqttIngest
from locations.ingest.worker import stop_in_process_worker


class Command(BaseCommand):
    help = (
        "Take gateway batches from MQTT (rtls/<gateway>/sightings, rtls/<gateway>/cassia) at QoS 1 with a "
        "persistent session, and queue them for the engine. Broker: MQTT_URL."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client-id", default=None, help="default: INGEST_MQTT_CLIENT_ID")
        parser.add_argument("--seconds", type=float, default=None, help="stop after this long (tests)")

    def handle(self, *args, client_id=None, seconds=None, **options):
        ingest = MqttIngest(
            url=settings.MQTT_URL,
            client_id=client_id or settings.INGEST_MQTT_CLIENT_ID,
            prefix=settings.INGEST_MQTT_TOPIC_PREFIX,
        )
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stderr.write(f"ingest_mqtt: connecting to {ingest.options['host']}:{ingest.options['port']}")
        stats = ingest.run(stop=stop, max_seconds=seconds)
        stop_in_process_worker()  # the embedded default: commit what the in-process engine holds
        self.stderr.write(f"ingest_mqtt stopped: {stats.as_dict()}")
