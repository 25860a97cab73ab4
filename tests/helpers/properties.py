"""A Hypothesis profile, deterministic and quick.

``derandomize`` makes every run try the same examples, so a failure reproduces from the
test name alone and CI never flakes on a newly drawn input; no example database is written
into the repository. Tests take it with ``settings.get_profile(PROFILE)``.
"""

from hypothesis import HealthCheck, settings

PROFILE = "gramops-reliability"

settings.register_profile(
    PROFILE,
    derandomize=True,
    database=None,
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
