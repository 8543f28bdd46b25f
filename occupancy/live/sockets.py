"""WebSocket endpoints of docs/live-protocol.md: a snapshot on connect, then coalesced updates."""

import asyncio
import contextlib
import functools
import json
import logging
import os
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from occupancy.accounts.guard import token_from
from occupancy.accounts.permissions import (
    CLOSE_NO_TOKEN,
    OfficialSocket,
    Public,
    SocketRefused,
    VenueWatcherSocket,
    watches,
)
from occupancy.deps import ServicesDep, venue_by_signed_code
from occupancy.errors import CLOSE_UNAVAILABLE, DomainError, as_domain_error, close_code
from occupancy.live import snapshots, wire
from occupancy.live.hub import CITY, DISPLAY, VENUE, Hub
from occupancy.live.outbox import DirectOutbox, Outbox
from occupancy.live.rechecks import Allows, Rechecks
from occupancy.metrics import OPEN_SOCKETS
from occupancy.params import SignedCode, VenueId
from occupancy.services import Services
from occupancy.visits import repository, tickets
from occupancy.visits.errors import MalformedTicket

router = APIRouter()
log = logging.getLogger(__name__)

# Sends one message to one socket (its ASGI send_json, or a handed-over socket's outbox).
Send = Callable[[dict], Awaitable[None]]

CLOSE_NOT_FOUND = 4404
# The visits a visitor's page may follow on one socket (one after another).
MAX_TICKETS_FOLLOWED = 20
# Which process answered (a number, nothing personal): lets tests see both workers deliver.
WORKER_HEADER = (b"x-occupancy-worker", str(os.getpid()).encode())


def closes_on_error(handler):
    """An error after the handshake closes the socket with a code that says what happened, so
    the client learns why (uvicorn would otherwise drop the connection without a close frame):
    1013 while Redis or SQL does not answer, 1011 (logged with its traceback) for a bug."""

    @functools.wraps(handler)
    async def wrapper(websocket: WebSocket, *args, **kwargs) -> None:
        try:
            await handler(websocket, *args, **kwargs)
        except (WebSocketDisconnect, asyncio.CancelledError):
            raise
        except Exception as exc:
            error = as_domain_error(exc, f"live socket {websocket.url.path}")
            if error.status == 503:
                reason = "service unavailable: reconnect in a moment"
            elif error.status >= 500:
                reason = "internal error: reconnect"
            else:
                reason = error.message[:120]
            with contextlib.suppress(Exception):
                await websocket.close(close_code(error), reason)

    return wrapper


async def refused(websocket: WebSocket, exc: SocketRefused) -> None:
    """A socket's permission refused (``accounts.permissions``): accept first, so that the
    refusal can carry its close code (4401, 4403, ...), then close."""
    if websocket.client_state == WebSocketState.CONNECTING:
        await websocket.accept(headers=[WORKER_HEADER])
    await websocket.close(exc.code, exc.reason)


async def _accept(websocket: WebSocket, svc: Services) -> Hub | None:
    """Accept first, so that a refusal can carry its close code (4404, ...)."""
    await websocket.accept(headers=[WORKER_HEADER])
    if svc.hub is None:
        await websocket.close(CLOSE_UNAVAILABLE, "live updates are not running in this process")
    return svc.hub


async def _serve(websocket: WebSocket, hub: Hub, kind: str, venue_id: int,
                 snapshot: Callable[[], Awaitable[dict]],
                 allows: Allows | None = None, rechecks: Rechecks | None = None,
                 tickets: "Callable[[Send], TicketsFollowed] | None" = None) -> None:
    """Send a snapshot, then whatever the hub offers, until the client leaves or stalls, or its
    token stops allowing ``allows`` (asked by ``rechecks`` every few seconds).

    The outbox is registered, and the hub subscribed to its events, before the snapshot is read:
    every event after that read reaches the socket as an update (one already in the snapshot may
    come again; clients drop the copy). This task sends; one more reads what the client sends
    (``tickets``: a visitor's page may send its ticket, to follow its visit).
    Where the server lets it (``occupancy.live.wire``), the socket is handed over once its
    snapshot is sent (``_serve_handed_over``).
    """
    detach = wire.detacher_in(websocket.scope)
    if detach is not None:
        await _serve_handed_over(websocket, hub, kind, venue_id, snapshot, allows, rechecks,
                                 tickets, detach)
        return
    outbox = hub.outbox(websocket, kind, wire.writer_in(websocket.scope))
    following = tickets(websocket.send_json) if tickets is not None else None
    receiver = None
    with contextlib.ExitStack() as stack:
        if allows is not None and rechecks is not None:
            token = token_from(websocket.headers, websocket.cookies)
            revoked = stack.enter_context(rechecks.watch(token, allows))
            revoked.add_done_callback(
                lambda _: outbox.stop(CLOSE_NO_TOKEN, "access revoked or expired"))
        try:
            async with hub.watch(kind, venue_id, outbox):
                await websocket.send_json(await snapshot())
                if kind != CITY:
                    hub.refresh(venue_id)
                receiver = asyncio.create_task(_read(websocket, outbox, following))
                receiver.add_done_callback(lambda _: outbox.stop())
                await outbox.run()
                if outbox.close_with is not None:  # a peer gone silent may not take it
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(websocket.close(*outbox.close_with), 1.0)
        finally:
            if receiver is not None:
                receiver.cancel()
                await asyncio.gather(receiver, return_exceptions=True)
            if following is not None:
                await following.stop()


async def _serve_handed_over(websocket: WebSocket, hub: Hub, kind: str, venue_id: int,
                             snapshot: Callable[[], Awaitable[dict]], allows: Allows | None,
                             rechecks: Rechecks | None,
                             tickets: "Callable[[Send], TicketsFollowed] | None", detach) -> None:
    """``_serve`` for a socket the server lets go of: once the snapshot is sent, the socket is
    handed over to its outbox (``occupancy.live.wire``) and this task, with the request's state,
    ends. What the client sends reaches ``tickets`` through the outbox, whose task (while a
    visit is followed) writes through it too. The outbox leaves the hub and the token's
    rechecks when the socket closes. Thousands of screens open for hours then hold a few KiB
    each rather than a task and its stack."""
    outbox = hub.direct_outbox(kind, wire.writer_in(websocket.scope))
    with contextlib.ExitStack() as stack:
        if tickets is not None:
            following = tickets(_sends_through(outbox))
            outbox.on_text = following.received
            stack.callback(following.cancel)
        if allows is not None and rechecks is not None:
            token = token_from(websocket.headers, websocket.cookies)
            revoked = stack.enter_context(rechecks.watch(token, allows))
            revoked.add_done_callback(
                lambda _: outbox.stop(CLOSE_NO_TOKEN, "access revoked or expired"))
        await hub.add(kind, venue_id, outbox)
        stack.callback(hub.remove, kind, venue_id, outbox)
        await websocket.send_json(await snapshot())
        if kind != CITY:
            hub.refresh(venue_id)
        close = detach(outbox)
        if close is None:  # gone meanwhile: the stack cleans up
            return
        # Counted as open until it closes, not until this task ends (occupancy.metrics).
        stack.callback(OPEN_SOCKETS.dec)
        outbox.on_closed(stack.pop_all().close)
        outbox.release(close)


async def _read(websocket: WebSocket, outbox: Outbox,
                following: "TicketsFollowed | None") -> None:
    """Read what the client sends, to notice when it goes away (a keep-alive says it is still
    there), and pass it to ``following``."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            outbox.heard()
            if following is not None:
                following.received(message.get("text"))


def _sends_through(outbox: DirectOutbox) -> Send:
    async def send(data: dict) -> None:
        outbox.send(data)
    return send


@router.websocket("/ws/venues/{venue_id}")
@closes_on_error
async def venue_socket(
    websocket: WebSocket, venue_id: VenueId, svc: ServicesDep, _: VenueWatcherSocket
) -> None:
    """Manager, door staff, official or operator: the venue's full live state."""
    if (hub := await _accept(websocket, svc)) is None:
        return
    try:
        info = await svc.venues.by_id(venue_id)
    except DomainError as exc:
        await websocket.close(CLOSE_NOT_FOUND, exc.message[:120])
        return
    await _serve(websocket, hub, VENUE, venue_id,
                 lambda: snapshots.venue_snapshot(svc.today, info, svc.settings.secret_key),
                 lambda who: watches(who, venue_id), svc.rechecks)


@router.websocket("/ws/display/{signed_code}")
@closes_on_error
async def display_socket(
    websocket: WebSocket, signed_code: SignedCode, svc: ServicesDep, _: Public
) -> None:
    """The public door display: no login, count and light only."""
    if (hub := await _accept(websocket, svc)) is None:
        return
    try:
        info = await venue_by_signed_code(svc, signed_code)
    except DomainError as exc:
        await websocket.close(CLOSE_NOT_FOUND, exc.message[:120])
        return
    await _serve(websocket, hub, DISPLAY, info.id, lambda: snapshots.display_snapshot(svc.today, info),
                 tickets=lambda send: TicketsFollowed(send, svc, hub, info.id))


class TicketsFollowed:
    """The visitor's page on the venue's public socket may send its ticket (never in the URL):
    it is told the visit's state at once and again when the visit ends, whoever ends it. A new
    ticket (the next visit from the same page) replaces the one followed."""

    def __init__(self, send: Send, svc: Services, hub: Hub, venue_id: int) -> None:
        self.send, self.svc, self.hub, self.venue_id = send, svc, hub, venue_id
        self.followed: list[str] = []
        self.follower: asyncio.Task | None = None

    def received(self, text: str | None) -> None:
        ticket = _ticket_in(text)
        if ticket is None or ticket in self.followed or len(self.followed) >= MAX_TICKETS_FOLLOWED:
            return  # each read costs SQL: a page follows a few of its own visits
        self.followed.append(ticket)
        self.cancel()
        self.follower = asyncio.create_task(
            _follow(self.send, self.svc, self.hub, self.venue_id, ticket))
        self.follower.add_done_callback(_log_failure)

    def cancel(self) -> None:
        if self.follower is not None:
            self.follower.cancel()

    async def stop(self) -> None:
        self.cancel()
        if self.follower is not None:
            await asyncio.gather(self.follower, return_exceptions=True)


def _log_failure(task: asyncio.Task) -> None:
    """The page is told nothing more of its visit; it asks again when it reconnects."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("following a visit failed (%s)", type(exc).__name__)


def _ticket_in(text: str | None) -> str | None:
    try:
        ticket = json.loads(text or "").get("ticket")
    except (ValueError, AttributeError):
        return None
    return ticket if isinstance(ticket, str) else None


async def _follow(send: Send, svc: Services, hub: Hub, venue_id: int, ticket: str) -> None:
    try:
        if tickets.venue_of(ticket) != venue_id:
            raise MalformedTicket()
    except MalformedTicket:
        await send({"type": "visit", "state": "unknown"})
        return
    visit = await repository.find_by_ticket(svc.sessionmaker, tickets.digest(ticket))
    if visit is None:
        await send({"type": "visit", "state": "unknown"})
        return
    # Waiting before the visit is read: an end recorded after the read still arrives.
    with hub.visit_end(venue_id, visit.id) as ended:
        visit = await repository.find_by_ticket(svc.sessionmaker, tickets.digest(ticket))
        if visit.checked_out_at is None:
            await send({"type": "visit", "state": "open"})
            event = await ended
            reason, at = event.get("r"), event.get("t")
        else:
            reason, at = visit.checkout_reason, visit.checked_out_at.timestamp()
    await send({"type": "visit", "state": "ended", "reason": reason, "at": at})


@router.websocket("/ws/city")
@closes_on_error
async def city_socket(websocket: WebSocket, svc: ServicesDep, _: OfficialSocket) -> None:
    """Officials and operators: every venue, totals per district and category."""
    if (hub := await _accept(websocket, svc)) is None:
        return
    await _serve(websocket, hub, CITY, 0, hub.city_snapshot,
                 lambda who: who.may_see_city(), svc.rechecks)
