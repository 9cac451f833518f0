"""The "Async API" of the course text: simple math over HTTP, with FastAPI.

The text's ``/add`` is kept, with its bugs fixed, and three siblings join it:

* ``second_number`` is truly optional.  The text declared it
  ``Optional[int] = Field(title=...)``, which Pydantic 2 treats as *required*
  (``Optional`` only allows ``null``); its handler's ``or 1`` shows the intent:
  missing means 1.  Here it defaults to 1, and ``null`` means "missing" too.
* ``0`` is a number: the text's ``item.second_number or 1`` turned ``2 + 0``
  into ``3``.
* Numbers are strict integers, so ``"2"`` or ``2.5`` is a 422 with Pydantic's
  description of what was wrong, rather than a silent conversion.
* ``/divide`` answers division by zero with a 400 that says so, not a 500.
* Input FastAPI's defaults turn into a 500 or a vague 400 is a 422 that says
  what is wrong: a non-finite number (``1e400``, ``NaN``, ``Infinity``), which
  the default handler fails to echo back as JSON, and an integer longer than
  Python converts from text (``sys.get_int_max_str_digits()``).

``/docs`` (Swagger UI) and ``/redoc`` need no internet: their assets are
served locally.

``GET /loop`` names the event loop class serving the request, which is how a
user (and the tests) can see glassloop is the one doing the work.
"""

from __future__ import annotations

import asyncio
import math
import sys
from typing import TypeGuard

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

#: FastAPIOffline rather than FastAPI: /docs and /redoc load their scripts and
#: styles from this server (the fastapi-offline package ships them) instead of
#: a CDN, so the docs work where a demo is often shown, on a machine offline.
app: FastAPI = FastAPIOffline(
    title="Async API: simple math",
    description=(
        "The course text's FastAPI example (Простые математические операции), "
        "served by uvicorn on a glassloop event loop."
    ),
    version="1.0",
    # No online validator badge either: nothing on the page leaves this server.
    swagger_ui_parameters={"validatorUrl": None},
)


def is_non_finite(value: object) -> TypeGuard[float]:
    return isinstance(value, float) and not math.isfinite(value)


def json_safe(value: object) -> object:
    """``value`` with each non-finite float spelled as a string.

    A 422 echoes the offending input back, and JSON has no Infinity or NaN:
    Python's parser accepts them (and reads ``1e400`` as ``inf``), but the
    response encoder refuses them, which made the error report itself a 500.
    The spelling is the one the client sent for NaN and Infinity.
    """
    if is_non_finite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


#: Added to an error about a non-finite input: the client wrote 1e400, say, and
#: the error shows "Infinity", which needs saying.
NON_FINITE_HINT = (
    "; got a non-finite number (NaN, Infinity, or a literal such as 1e400, "
    "too large for a float, which reads as Infinity)"
)


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own 422 body, made encodable whatever numbers the input held."""
    errors = []
    for error in exc.errors():
        if is_non_finite(error.get("input")):
            error = {**error, "msg": f"{error.get('msg', 'Invalid input')}{NON_FINITE_HINT}"}
        errors.append(error)
    return JSONResponse(status_code=422, content={"detail": json_safe(jsonable_encoder(errors))})


def is_int_digits_limit(error: BaseException | None) -> bool:
    """Whether ``error`` is the parser refusing an over-long integer literal."""
    return isinstance(error, ValueError) and "integer string conversion" in str(error)


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """A body with a too-long integer is a 422 that says so.

    FastAPI turns every parse failure that is not a ``JSONDecodeError`` into
    400 "There was an error parsing the body"; for an integer past Python's
    int-to-text digit limit the reason is only in ``__cause__``.
    """
    if exc.status_code == 400 and is_int_digits_limit(exc.__cause__):
        limit = sys.get_int_max_str_digits()
        return JSONResponse(
            status_code=422,
            content={
                "detail": [
                    {
                        "type": "json_invalid",
                        "loc": ["body"],
                        "msg": f"an integer in the body has more than {limit} digits, "
                        "the most Python reads from text (its int max str digits limit)",
                        "input": {},
                    }
                ]
            },
        )
    return await http_exception_handler(request, exc)


class Add(BaseModel):
    """The text's request body: the second addend may be left out (it is 1 then)."""

    model_config = ConfigDict(strict=True)

    first_number: int = Field(title="First addend")
    second_number: int = Field(
        default=1, title="Second addend", description="Optional; 1 when missing or null."
    )

    @field_validator("second_number", mode="before")
    @classmethod
    def _null_means_missing(cls, value: object) -> object:
        # The text typed it Optional[int]: a client may well send null.
        return 1 if value is None else value


class Operands(BaseModel):
    """Two integers, both required (no default makes sense for -, * and /)."""

    model_config = ConfigDict(strict=True)

    first_number: int = Field(title="First operand")
    second_number: int = Field(title="Second operand")


class Result(BaseModel):
    result: int = Field(title="Result")


class Quotient(BaseModel):
    result: float = Field(title="Quotient (true division)")


class LoopInfo(BaseModel):
    loop: str = Field(title="Event loop class serving this request", examples=["glassloop.Loop"])


@app.post("/add", response_model=Result, summary="first_number + second_number (default 1)")
async def add(item: Add) -> Result:
    return Result(result=item.first_number + item.second_number)


@app.post("/subtract", response_model=Result, summary="first_number - second_number")
async def subtract(item: Operands) -> Result:
    return Result(result=item.first_number - item.second_number)


@app.post("/multiply", response_model=Result, summary="first_number * second_number")
async def multiply(item: Operands) -> Result:
    return Result(result=item.first_number * item.second_number)


@app.post(
    "/divide",
    response_model=Quotient,
    summary="first_number / second_number",
    responses={400: {"description": "second_number is 0, or the quotient is too large"}},
)
async def divide(item: Operands) -> Quotient:
    if item.second_number == 0:
        raise HTTPException(status_code=400, detail="division by zero: second_number must not be 0")
    try:
        return Quotient(result=item.first_number / item.second_number)
    except OverflowError:
        raise HTTPException(
            status_code=400, detail="the quotient is too large for a floating-point number"
        ) from None


@app.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    """A browser pointed at the API lands on its documentation."""
    return RedirectResponse("/docs")


@app.get("/loop", response_model=LoopInfo, summary="the event loop class serving requests")
async def loop_info() -> LoopInfo:
    return LoopInfo(loop=loop_name(asyncio.get_running_loop()))


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``glassloop.Loop`` rather than ``glassloop.loop.Loop``: the name users import."""
    cls = type(loop)
    module = cls.__module__
    if module.startswith("glassloop."):
        module = "glassloop"
    return f"{module}.{cls.__qualname__}"
