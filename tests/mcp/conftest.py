"""Shared fixtures for the MCP server tests."""

from __future__ import annotations

import pytest

from tests.support.coingecko_stub import coingecko_stub  # noqa: F401  (re-exported fixture)
from tests.support.fake_time import FakeTime


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
