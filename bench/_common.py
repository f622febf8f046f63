"""Helpers shared by the bench scripts: memory readings and synthetic owner addresses."""

import resource


def rss_mb() -> float:
    """Return this process's current resident set size in MiB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    """Return the peak resident set size in MiB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def owner_of(i: int) -> str:
    """Return the i-th synthetic owner address (0x + i in 40 hex digits)."""
    return f"0x{i:040x}"
