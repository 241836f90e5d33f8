"""Root conftest: loads the claims plugin.

The plugin is also registered as a pytest11 entry point (pyproject.toml) and decides hub access on import, before
anything imports transformers; listing it here keeps a source checkout without an editable install working too.
"""

pytest_plugins = ("claims.plugin",)
