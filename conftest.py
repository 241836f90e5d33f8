"""Root conftest: hub access is decided before anything imports transformers, then the claims plugin loads."""

from fixtures.offline import configure_hub_access

configure_hub_access()

pytest_plugins = ("claims.plugin",)
