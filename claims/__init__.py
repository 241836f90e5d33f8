"""Paper claims as pytest tests: the registry, verdicts, the plugin and the reports."""
