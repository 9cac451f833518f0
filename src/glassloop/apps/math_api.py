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

``GET /loop`` names the event loop class serving the request, which is how a
user (and the tests) can see glassloop is the one doing the work.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, HTTPException
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

app = FastAPI(
    title="Async API: simple math",
    description=(
        "The course text's FastAPI example (Простые математические операции), "
        "served by uvicorn on a glassloop event loop."
    ),
    version="1.0",
)


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
