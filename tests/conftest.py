"""Shared by every test: the options for pytest runs started inside a test."""

from __future__ import annotations

import pytest

# No cache provider, and none of the third-party plugins this venv happens to have (hypothesis imports itself at
# every terminal summary, about 0.7 s per start-up on this machine). The claims plugin and xdist stay.
_DISABLED = ("cacheprovider", "hypothesispytest", "anyio", "typeguard", "jaxtyping")
LEAN_FLAGS = tuple(arg for name in _DISABLED for arg in ("-p", f"no:{name}"))


@pytest.fixture(scope="session")
def lean_flags() -> tuple[str, ...]:
    """`LEAN_FLAGS`: pass them to `pytester.runpytest_subprocess`, or set them as PYTEST_ADDOPTS."""
    return LEAN_FLAGS
