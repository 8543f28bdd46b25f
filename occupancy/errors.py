"""Domain errors and their one mapping to HTTP: ``{"error": {"code", "message"}}``."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


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

    def __init__(self, message: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, **({"field": field} if field else {}))
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
    status = 503
    code = "service_unavailable"
    message = "The service could not save this just now; nothing was recorded. Please try again."


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
    return JSONResponse(error.body(), status_code=error.status, headers=headers or None)


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
