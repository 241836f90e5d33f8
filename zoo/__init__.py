"""The embedded model zoo: seeded tiny model families trained by zoo/train.py."""
