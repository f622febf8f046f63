"""The protocol: a pure, deterministic, integer-only state machine behind ``engine.apply``."""
