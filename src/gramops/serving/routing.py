"""Which model answers a request (canary) and which also answers it on the side (shadow).

Both decisions hash the request's routing key with SHA-256, as the offline replays do
(:func:`gramops.monitoring.traffic_replay.route`): a request id always takes the same arm,
in every process and every replica, so a user keyed by id sees one model for the whole
canary, and raising a fraction only adds ids to an arm, never reshuffles them. Shadow and
canary have their own salts, so being in one says nothing about being in the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from gramops.monitoring.traffic_replay import route

SHADOW_SALT = "serve:shadow"
CANARY_SALT = "serve:canary"


@dataclass(frozen=True)
class Routing:
    """The live split: aliases (None = off) and the share of requests each gets."""

    shadow_alias: str | None = None
    shadow_fraction: float = 0.0
    canary_alias: str | None = None
    canary_fraction: float = 0.0

    def __post_init__(self) -> None:
        for name in ("shadow_fraction", "canary_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is {value}; it must be a fraction in [0, 1]")


@dataclass(frozen=True)
class Decision:
    canary: bool
    shadow: bool


def decide(key: str, routing: Routing) -> Decision:
    """The arms of the request keyed ``key`` (its request id)."""
    canary = (
        routing.canary_alias is not None
        and routing.canary_fraction > 0
        and route(key, CANARY_SALT) < routing.canary_fraction
    )
    shadow = (
        routing.shadow_alias is not None
        and routing.shadow_fraction > 0
        and route(key, SHADOW_SALT) < routing.shadow_fraction
    )
    return Decision(canary=canary, shadow=shadow)
