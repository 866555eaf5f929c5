"""The one place errors become HTTP answers: each dealflow error kind has its status and a JSON body
that says what is wrong (and, for a refused gate, every unmet criterion)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from dealflow.errors import (
    Conflict,
    DealflowError,
    Forbidden,
    GateRefused,
    InvalidInput,
    NotFound,
    ProcessFileError,
    Refused,
    StorageError,
    TooManyAttempts,
    Unauthenticated,
)

# Most specific first: the first kind an error is an instance of decides its status.
STATUS: tuple[tuple[type[DealflowError], int, str], ...] = (
    (Unauthenticated, 401, "unauthenticated"),
    (TooManyAttempts, 429, "too_many_attempts"),
    (GateRefused, 422, "gate_refused"),
    (Refused, 422, "refused"),
    (InvalidInput, 422, "invalid_input"),
    (NotFound, 404, "not_found"),
    (Forbidden, 403, "forbidden"),
    (Conflict, 409, "conflict"),
    (StorageError, 503, "storage_error"),
)
_HTTP_KINDS = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


class ErrorDetail(BaseModel):
    """What went wrong: a kind a program can branch on, a sentence for people, and the details."""

    kind: str
    message: str
    field: str | None = None
    reasons: list[str] = []


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


def _answer(status: int, detail: ErrorDetail, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(error=detail).model_dump(mode="json"), status_code=status, headers=headers)


def error_response(exc: DealflowError) -> JSONResponse:
    """The answer to a dealflow error."""
    status, kind = next(((code, name) for cls, code, name in STATUS if isinstance(exc, cls)), (500, "error"))
    reasons: list[str] = []
    if isinstance(exc, Refused):
        reasons = list(exc.reasons)
    elif isinstance(exc, ProcessFileError):
        reasons = list(exc.problems)
    field = exc.field if isinstance(exc, InvalidInput) else None
    headers = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="dealflow"'
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after)
    return _answer(status, ErrorDetail(kind=kind, message=exc.message, field=field, reasons=reasons), headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_response(exc: RequestValidationError) -> JSONResponse:
    """The answer to a request whose fields are missing or malformed: every problem, each named."""
    problems = [(_location(tuple(e.get("loc", ()))), str(e.get("msg", "invalid"))) for e in exc.errors()]
    reasons = [f"{field}: {message}" for field, message in problems]
    first = problems[0][0] if problems else None
    detail = ErrorDetail(kind="invalid_input", message="; ".join(reasons) or "invalid request", field=first)
    detail.reasons = reasons
    return _answer(422, detail)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    async def on_dealflow_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DealflowError)
        return error_response(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_response(exc)

    async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        kind = _HTTP_KINDS.get(exc.status_code, "http_error")
        return _answer(exc.status_code, ErrorDetail(kind=kind, message=str(exc.detail)), dict(exc.headers or {}))

    app.add_exception_handler(DealflowError, on_dealflow_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Not logged in, or the session or token ended"},
    403: {"model": ErrorBody, "description": "Your role or scope does not allow this; the message says why"},
    404: {"model": ErrorBody, "description": "No such record"},
    409: {"model": ErrorBody, "description": "Someone changed the same record first, or it already exists"},
    422: {"model": ErrorBody, "description": "Bad input, or a rule or gate refused (reasons lists each)"},
}
