"""Domain errors and their one mapping to HTTP: ``{"error": {"code", "message"}}``.

A dependency that does not answer (Redis or SQL down, a pool or call timing out) is a 503 with
Retry-After on every route, and anything unexpected a 500 in the same JSON shape, logged with its
traceback: Starlette's plain-text "Internal Server Error" is never sent.
"""

import logging

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sql
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection

from occupancy import metrics

log = logging.getLogger(__name__)

# How long a client is asked to wait after a 503: a restarted Redis or a PostgreSQL failover
# answers again within seconds, and clients retry with jitter on top.
RETRY_AFTER_SECONDS = 2


class DomainError(Exception):
    """Base of every error a user can be told about; subclasses set status and code."""

    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, **details: object) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.details:
            error.update(self.details)
        return {"error": error}


class InvalidInput(DomainError):
    status = 422
    code = "invalid_input"

    def __init__(self, message: str, field: str | None = None, code: str | None = None,
                 **details: object) -> None:
        super().__init__(message, **({"field": field} if field else {}), **details)
        if code:
            self.code = code


class BodyTooLarge(DomainError):
    status = 413
    code = "body_too_large"
    message = "The request body is too large."


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    message = "Send the request body as JSON (Content-Type: application/json)."


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    message = "This needs an access token: send 'Authorization: Bearer <token>'."


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    message = "Your access token does not allow this."


class ServiceUnavailable(DomainError):
    """Every 503 says when to try again (the Retry-After header and ``retry_after_seconds``)."""

    status = 503
    code = "service_unavailable"
    message = "The service could not save this just now; nothing was recorded. Please try again."

    def __init__(self, message: str | None = None, retry_after_seconds: int = RETRY_AFTER_SECONDS,
                 **details: object) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds, **details)


class DependencyDown(ServiceUnavailable):
    """Redis or SQL did not answer a route that has no sentence of its own for it."""

    message = "The service cannot reach its data just now. Please try again in a moment."


class InternalError(DomainError):
    status = 500
    code = "internal_error"
    message = "Something went wrong on our side. Please try again in a moment."


def error_response(error: DomainError) -> JSONResponse:
    headers = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if "retry_after_seconds" in error.details:
        headers["Retry-After"] = str(error.details["retry_after_seconds"])
    elif error.status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if error.status == 503:
        metrics.UNAVAILABLE_ANSWERS.labels(error.code).inc()
    return JSONResponse(error.body(), status_code=error.status, headers=headers or None)


# Failures of a dependency, not of the request: the same request may succeed in a moment.
UNAVAILABLE = (
    redis.exceptions.ConnectionError,  # also BusyLoadingError (loading its data) and MaxConnectionsError
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,  # a replica that has not been promoted yet
    sql.OperationalError,  # SQLite locked or unopenable; PostgreSQL via psycopg: down, restarting
    sql.InterfaceError,
    sql.TimeoutError,  # no pooled connection free in time
    sql.DisconnectionError,
    TimeoutError,  # asyncio.timeout() and asyncio.wait_for() (asyncio.TimeoutError is this one)
    ConnectionError,  # a refused or reset socket (asyncpg's connect raises it unwrapped)
)
# PostgreSQL error classes that mean the server, not the statement: connection exception (08),
# insufficient resources (53), operator intervention such as a shutdown (57), system error (58),
# and a database that is not there (3D000).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57", "58", "3D000")


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is a dependency that did not answer (the request itself was fine)."""
    if isinstance(exc, sql.DBAPIError) and not isinstance(exc, UNAVAILABLE):
        if exc.connection_invalidated:
            return True
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
        return sqlstate.startswith(_UNAVAILABLE_SQLSTATES) if sqlstate else False
    return isinstance(exc, UNAVAILABLE)


def as_domain_error(exc: Exception, where: str = "request") -> DomainError:
    """What to tell the client about ``exc``: itself if it is a DomainError, else a 503 for a
    dependency that did not answer (logged in one line) or a 500 (logged with its traceback)."""
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        (inner,) = exc.exceptions
        if isinstance(inner, Exception):
            exc = inner
    if isinstance(exc, DomainError):
        if exc.status == 503 and exc.__cause__ is not None:  # a service's own 503 for a failure
            _count_dependency_error(exc.__cause__)
        return exc
    if is_unavailable(exc):
        _count_dependency_error(exc)
        log.warning("%s: a dependency did not answer: %s: %s", where, type(exc).__name__,
                    str(exc).splitlines()[0][:200] if str(exc) else "")
        return DependencyDown()
    log.error("%s failed", where, exc_info=exc)
    return InternalError()


def _count_dependency_error(exc: BaseException) -> None:
    metrics.DEPENDENCY_ERRORS.labels(metrics.dependency_of(exc)).inc()


# WebSocket close codes: try again later, or an unexpected condition on the server.
CLOSE_UNAVAILABLE = 1013
CLOSE_INTERNAL_ERROR = 1011


def close_code(error: DomainError) -> int:
    """A socket's close code for ``error``: 1013 for a 503, 1011 for a 500, else 4000 + status."""
    if error.status == 503:
        return CLOSE_UNAVAILABLE
    return CLOSE_INTERNAL_ERROR if error.status >= 500 else 4000 + error.status


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc) or None
    text = first.get("msg", "Invalid input.")
    return (f"{field}: {text}" if field else text), field


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, field = _validation_message(exc)
        return error_response(InvalidInput(message, field=field))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        error = DomainError(str(exc.detail))
        error.status, error.code = exc.status_code, codes.get(exc.status_code, "http_error")
        return error_response(error)

    async def unavailable(conn: HTTPConnection, exc: Exception) -> JSONResponse | None:
        error = as_domain_error(exc, f"{conn.scope.get('method', 'WEBSOCKET')} {conn.url.path}")
        if conn.scope["type"] == "websocket":  # Starlette sends nothing for a socket's handler
            await conn.close(close_code(error))
            return None
        return error_response(error)

    # The DBAPIError handler also sees SQL errors that are bugs: as_domain_error tells them apart.
    for exc_type in (*UNAVAILABLE, sql.DBAPIError):
        app.add_exception_handler(exc_type, unavailable)
    # Anything else reaches Starlette's ServerErrorMiddleware, which calls this handler instead of
    # sending its plain-text 500 (and then re-raises for the server's log).
    app.add_exception_handler(Exception, unavailable)
