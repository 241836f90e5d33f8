"""One package per paper; every module in it that uses @claim is registered by claims.registry.load_all()."""
