"""
Shared pytest configuration: Hypothesis profiles.

Profiles
--------
dev        the default: 60 examples, stateful runs of up to 100 steps, no deadline
           (a stateful example runs for up to a second)
ci         dev, derandomised and without the example database, so a CI run is
           reproducible; chosen automatically when ``CI`` is set
thorough   1000 examples of 100 steps, for a long run before a release

Choose one with ``SOLVENT_HYPOTHESIS_PROFILE=thorough make test``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=60,
    stateful_step_count=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large),
)
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True, database=None)
settings.register_profile("thorough", parent=settings.get_profile("dev"), max_examples=1000)

settings.load_profile(os.environ.get("SOLVENT_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
