"""Import ``redis_kind`` into a test module to run each of its tests on a single Redis and on a
Redis Cluster (three masters with a replica each): ``from tests.redis_kinds import redis_kind``."""

import pytest


@pytest.fixture(params=["single", "cluster"])
def redis_kind(request) -> str:
    return request.param
