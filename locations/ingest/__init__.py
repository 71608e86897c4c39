"""The gateway ingest: tokens, the HTTP and MQTT fronts, the codec, the queue and the engine workers."""
