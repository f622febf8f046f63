"""The node around the core: what reaches ``engine.apply`` only after its signature is checked."""
