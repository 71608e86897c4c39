"""Django's Redis cache backend, with one redis client per connection pool instead of one per operation.

``django.core.cache.backends.redis.RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache
call; its constructor fills a table of ~165 response callbacks, about 0.15 ms of CPU each time. The ingest
front makes two or three such calls per gateway POST (the per-gateway throttle's get and set, the token
revocation check), ~160 POST/s in a 1,000-bed hospital (docs/benchmarks.md, "HTTP ingest front").

A ``redis.Redis`` client holds no connection of its own (it borrows one from the thread-safe pool for each
command), so one per pool serves every thread; the pools, the serializer and every command stay Django's.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class ReusedClientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
