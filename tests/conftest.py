"""Shared test configuration: hypothesis profiles.

``dev`` (default) is quick; ``ci`` (auto-selected when the ``CI`` environment variable is
set, as in ``.ci/run``) is derandomized so CI is reproducible, with more examples.
Select explicitly with ``pytest --hypothesis-profile=thorough``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=40, deadline=None)
settings.register_profile(
    "ci", max_examples=100, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
