"""Real frameworks on glassloop, over real loopback sockets.

Servers are started by the tests themselves, on port 0 (any free port), so
the suite runs on a busy machine and never touches anything but 127.0.0.1.
Helpers live in ``integration_helpers``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_helpers import ServiceThread, demo_config

#: Loopback integration cases take well under a second; a hang must not take 120.
INTEGRATION_TEST_TIMEOUT = 30


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(INTEGRATION_TEST_TIMEOUT))


@pytest.fixture(scope="module")
def demo() -> Iterator[ServiceThread]:
    """The demo Async API, one per test module, as ``glassloop serve`` runs it."""
    with ServiceThread(demo_config()) as running:
        yield running
