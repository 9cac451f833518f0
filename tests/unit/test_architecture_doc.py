"""docs/architecture.md's table of where each asyncio method lives stays true.

The table was built from the code; this rebuilds it from ``Loop``'s method
resolution order and compares, so a method moved to another class (or one
asyncio adds) shows up here rather than as a quietly wrong document.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from glassloop import Loop

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def documented_owners() -> dict[str, str]:
    text = DOC.read_text()
    table = text[text.index("| methods |") : text.index("The table can be checked")]
    owners: dict[str, str] = {}
    for line in table.strip().splitlines()[2:]:
        _, methods, where, _ = line.split("|")
        owner = re.findall(r"`(\w+)`", where)[0]
        for method in re.findall(r"`(\w+)`", methods):
            owners[method] = owner
    return owners


def test_every_asyncio_method_is_in_the_table_with_the_class_that_defines_it() -> None:
    public = [
        name
        for name, value in vars(asyncio.AbstractEventLoop).items()
        if callable(value) and not name.startswith("_")
    ]
    actual = {
        name: next(cls for cls in Loop.__mro__ if name in vars(cls)).__qualname__ for name in public
    }
    assert documented_owners() == actual
