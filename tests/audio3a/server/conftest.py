"""Compile the client path once per test session, outside any real-time loop."""
import pytest

from audio3a.server.client import ClientConfig, warm_client_path


@pytest.fixture(scope="session", autouse=True)
def warm():
    warm_client_path(ClientConfig())
