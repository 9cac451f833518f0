"""The callgrind workloads of benchmarks/instructions.py still run, on every loop.

CI has no time for callgrind; this keeps the workloads from rotting (each
one ends only when all its operations happened, and checks its own results).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "instructions.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("glassloop_bench_instructions", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


instructions = _load()


@pytest.mark.parametrize("loop_name", ["glassloop", "asyncio", "uvloop"])
@pytest.mark.parametrize("row", instructions.ROWS)
def test_workload_runs_to_completion(loop_name: str, row: str) -> None:
    instructions.run_workload(loop_name, row, 50)
