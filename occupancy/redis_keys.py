"""Every Redis key and channel name, built in one place.

Per-venue keys share the hash tag ``{v<id>}`` so that one script's keys live in one slot and the
same code runs on Redis Cluster.
"""

# Set once every venue is loaded from SQL; missing means Redis lost its state (see visits/rebuild).
# The marker and the rebuild's lock are changed by one script: one hash tag, one cluster slot.
READY_MARKER = "occ:{rebuild}:ready"
REBUILD_LOCK = "occ:{rebuild}:lock"
AUTO_CHECKOUT_LOCK = "occ:lock:auto-checkout"
ROLLUP_LOCK = "occ:lock:rollup"
REPAIR_LOCK = "occ:lock:repair"
PURGE_LOCK = "occ:lock:purge"
VENUE_CHANNEL_PREFIX = "occ:venue:"
CONFIG_CHANNEL = "occ:config"


def tag(venue_id: int) -> str:
    return f"occ:{{v{venue_id}}}"


def count(venue_id: int) -> str:
    """Places taken right now (sum of party sizes of open visits)."""
    return f"{tag(venue_id)}:count"


def config(venue_id: int) -> str:
    """Hash with the fields the scripts enforce: capacity, paused."""
    return f"{tag(venue_id)}:cfg"


def ticket(venue_id: int, ticket_hash: str) -> str:
    """Hash for one visit: visit id, party, check-in time, state, reason, check-out time."""
    return f"{tag(venue_id)}:t:{ticket_hash}"


def open_tickets(venue_id: int) -> str:
    """Set of the ticket hashes of the venue's open visits (their parties sum to the count)."""
    return f"{tag(venue_id)}:open"


def pending(venue_id: int) -> str:
    """Sorted set of writes in flight: ``in:<ticket hash>`` (a reservation whose SQL row is not
    confirmed yet) and ``out:<ticket hash>`` (a check-out not released yet), scored by their time."""
    return f"{tag(venue_id)}:pending"


def visit_keys(venue_id: int, ticket_hash: str) -> tuple[str, str, str, str, str]:
    """The first KEYS of every script that changes a visit, in their order."""
    return (count(venue_id), config(venue_id), ticket(venue_id, ticket_hash), open_tickets(venue_id),
            pending(venue_id))


def rate_keys(venue_id: int, window: int, address: str) -> tuple[str, str]:
    """Check-ins counted in one rate-limit window: the venue's, and one client address's there."""
    return f"{tag(venue_id)}:rl:{window}", f"{tag(venue_id)}:rl:{window}:{address}"


def venue_channel(venue_id: int) -> str:
    """Where the scripts publish a venue's events. It carries the venue's hash tag: on a cluster
    it is a shard channel (SPUBLISH) in the slot of the venue's keys, as a script requires; on a
    single Redis the pattern ``occ:venue:*`` still matches it."""
    return f"{VENUE_CHANNEL_PREFIX}{{v{venue_id}}}"


_TAGGED_PREFIX = f"{VENUE_CHANNEL_PREFIX}{{v".encode()


def venue_of_channel(channel: bytes) -> int:
    """The venue id in a venue channel's name; ValueError if it is not one."""
    if not (channel.startswith(_TAGGED_PREFIX) and channel.endswith(b"}")):
        raise ValueError(f"not a venue channel: {channel!r}")
    return int(channel[len(_TAGGED_PREFIX):-1])


# Today's statistics, written by the check-in and check-out scripts; ``day`` is the venue's local
# date as YYYYMMDD, minutes are epoch seconds of the minute's start.


def day_stats(venue_id: int, day: str) -> str:
    """Hash of the day's totals: entries, exits, visitors_in/out, refused_full/fever, stay_s, stays."""
    return f"{tag(venue_id)}:day:{day}"


def minute_stats(venue_id: int, day: str) -> str:
    """Hash of per-minute counters, fields ``<minute>:<e|x|vi|vo|rf|rv|s|p|f>``.

    entries, exits, visitors in, visitors out, refused full, refused fever, stay seconds of the
    visits that ended, peak count, 1 if the venue was full.
    """
    return f"{tag(venue_id)}:min:{day}"


def minute_counts(venue_id: int, day: str) -> str:
    """Hash ``<minute>`` -> the count at the end of that minute (for minutes with a change)."""
    return f"{tag(venue_id)}:cnt:{day}"


def recent(venue_id: int) -> str:
    """List of the last events (the published JSON), newest first."""
    return f"{tag(venue_id)}:recent"


def stats_keys(venue_id: int, day: str) -> tuple[str, str, str, str]:
    """The extra KEYS of the check-in and check-out scripts, in their order."""
    return day_stats(venue_id, day), minute_stats(venue_id, day), minute_counts(venue_id, day), recent(
        venue_id
    )


# Bookings (occupancy.bookings): a venue's day of slots is loaded from SQL as a whole, on first use.


def booking_day(venue_id: int, day: str) -> str:
    """Hash of a day's slots: ``loaded`` once read from SQL, ``<HHMM>`` -> places booked."""
    return f"{tag(venue_id)}:bkday:{day}"


def booking(venue_id: int, booking_hash: str) -> str:
    """Hash for one booking: id, slot start (HHMM), party, booked at, state, phone set's day."""
    return f"{tag(venue_id)}:bk:{booking_hash}"


def phone_bookings(venue_id: int, day: str, phone_index: str) -> str:
    """Set of the booking hashes one phone (its blind index) holds at the venue on a day."""
    return f"{tag(venue_id)}:bkph:{day}:{phone_index}"


def plan_version(venue_id: int) -> str:
    """The slot plan's version: a random token replaced by every change of the plan; the booking
    script refuses a plan read at another (occupancy.bookings.plan_cache)."""
    return f"{tag(venue_id)}:plan"


def pending_bookings(venue_id: int) -> str:
    """Sorted set of the booking hashes whose SQL row is not confirmed yet, scored by their time."""
    return f"{tag(venue_id)}:bkpending"


def holds(venue_id: int) -> str:
    """Sorted set of the slots (``<day>-<HHMM>``) with places held for unclaimed bookings, scored
    by the end of their hold (epoch seconds): the first not yet ended is the one under way."""
    return f"{tag(venue_id)}:holds"


def held(venue_id: int) -> str:
    """Hash ``<slot>`` -> places held by the slot's unclaimed bookings, ``<slot>:s`` -> its start
    (epoch seconds). Check-ins leave these places free while the slot's hold runs."""
    return f"{tag(venue_id)}:held"


BOOKING_LEASE_LOCK = "occ:lock:booking-leases"
SLOT_TIMERS_LOCK = "occ:lock:slot-timers"


# The waiting line (occupancy.line): parties wait in order of joining, then are offered places.


def line(venue_id: int) -> str:
    """Sorted set of the waiting parties' entry hashes, scored by their turn (1, 2, ...)."""
    return f"{tag(venue_id)}:line"


def line_offers(venue_id: int) -> str:
    """Sorted set of the entries offered places, scored by the end of their offer (epoch s)."""
    return f"{tag(venue_id)}:lineoff"


def line_entries(venue_id: int) -> str:
    """Hash ``<entry hash>`` -> the entry as JSON: id, party, joined at, state, turn, offer end."""
    return f"{tag(venue_id)}:lineent"


def line_meta(venue_id: int) -> str:
    """Hash: ``loaded`` once read from SQL, ``seq`` the last turn given, ``offered`` the places
    offered and not yet claimed, ``paused`` 1 while the manager holds offers back."""
    return f"{tag(venue_id)}:linemeta"


def line_offer_times(venue_id: int) -> str:
    """List of the times of the last offers, newest first (for the estimated wait)."""
    return f"{tag(venue_id)}:lineserved"


def line_phones(venue_id: int) -> str:
    """Hash: the keyed hash of a phone (privacy.blind_index) -> the entry it holds in the line,
    while that entry waits or is offered places: one place in the line per phone."""
    return f"{tag(venue_id)}:lineph"


def line_pending(venue_id: int) -> str:
    """Sorted set of the entries joined in Redis whose SQL row is not confirmed yet, scored by
    the time of their join (or of its latest retry): one left past the lease is an orphan."""
    return f"{tag(venue_id)}:linepend"


def line_keys(venue_id: int) -> tuple[str, str, str, str, str, str, str]:
    """The keys of every line script, in their order."""
    return (line(venue_id), line_offers(venue_id), line_entries(venue_id), line_meta(venue_id),
            line_offer_times(venue_id), line_phones(venue_id), line_pending(venue_id))


LINE_LOCK = "occ:lock:line-offers"
LINE_LEASE_LOCK = "occ:lock:line-leases"
