"""keccak256 (Ethereum's, not SHA3-256): the one hash of state roots, proofs and signatures."""

import sha3  # type: ignore[import-untyped]  # safe-pysha3: C keccak, ~1 µs per call


def keccak256(data: bytes) -> bytes:
    """Return the 32-byte keccak256 digest of ``data``."""
    digest: bytes = sha3.keccak_256(data).digest()
    return digest
