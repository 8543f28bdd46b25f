"""The benchmark's capacity sampler, against the real Redis: it sees the fullest venue and names
every venue over its capacity, across more venues than one script call reads."""

import redis

from loadtest.peak.invariants import CapacitySampler, Verdict
from occupancy import redis_keys as keys


def test_the_sampler_finds_the_fullest_venue_and_every_one_over_capacity(redis_url):
    client = redis.Redis.from_url(redis_url)
    venue_ids = list(range(1, 1202))  # three chunks of 500, the last one short
    for venue_id in venue_ids:
        client.hset(keys.config(venue_id), "capacity", 60)
        client.set(keys.count(venue_id), venue_id % 50)
    client.set(keys.count(777), 57)  # 95 %
    client.set(keys.count(1201), 61)  # over, in the last chunk
    client.set(keys.count(3), 70)  # over, in the first

    verdict = Verdict()
    sampler = CapacitySampler(redis_url, venue_ids, verdict)
    sampler.sample()
    sampler.stop()

    assert verdict.samples == 1 and round(verdict.max_fill, 4) == round(70 / 60, 4)
    assert sorted(verdict.over_capacity) == [f"{keys.count(1201)} 61/60 in Redis",
                                             f"{keys.count(3)} 70/60 in Redis"]
    assert not verdict.ok
    assert not client.keys("bench:sampler:*")  # its list of keys is gone with it


def test_the_sampler_sees_nothing_wrong_in_a_city_within_capacity(redis_url):
    client = redis.Redis.from_url(redis_url)
    for venue_id in (1, 2):
        client.hset(keys.config(venue_id), "capacity", 10)
    client.set(keys.count(1), 8)

    verdict = Verdict()
    sampler = CapacitySampler(redis_url, [1, 2, 3], verdict)  # 3: no keys at all
    sampler.sample()
    sampler.stop()

    assert verdict.ok and verdict.max_fill == 0.8
