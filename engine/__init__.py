"""The statistics engine: exact, vectorised computations on activation and weight tensors (no model I/O)."""
