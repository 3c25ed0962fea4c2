"""The pure rules of the health state machine: which deadline comes next, and what it does."""

from __future__ import annotations

import pytest

from mesh_registry.health import HealthPolicy, Lease, next_transition
from mesh_registry.model import ObjectKey, Phase

POLICY = HealthPolicy()  # 2.5 and 5 intervals, delete after 3600 s offline
KEY = ObjectKey("default", "a")


def lease(
    phase: Phase,
    *,
    beat: float | None = 100.0,
    since: float = 100.0,
    interval: float = 2.0,
    registered: float = 50.0,
    expired: bool = False,
) -> Lease:
    return Lease(KEY, interval, phase, since, registered, beat, expired=expired)


# (lease, policy, grace start, expected (deadline, target) or None)
TABLE = [
    # heartbeating agents go unhealthy 2.5 intervals after the last heartbeat
    (lease(Phase.HEALTHY), POLICY, None, (105.0, Phase.UNHEALTHY)),
    (lease(Phase.HEALTHY, interval=0.2), POLICY, None, (100.5, Phase.UNHEALTHY)),
    # never heartbeated: ages count from the registration
    (lease(Phase.PENDING, beat=None), POLICY, None, (55.0, Phase.UNHEALTHY)),
    # unhealthy go offline 5 intervals after the last heartbeat
    (lease(Phase.UNHEALTHY), POLICY, None, (110.0, Phase.OFFLINE)),
    (lease(Phase.UNHEALTHY, beat=None), POLICY, None, (60.0, Phase.OFFLINE)),
    # offline are deleted a fixed time after going offline
    (lease(Phase.OFFLINE, since=110.0), POLICY, None, (3710.0, None)),
    (lease(Phase.OFFLINE), HealthPolicy(delete_after=None), None, None),
    (lease(Phase.OFFLINE, since=110.0), HealthPolicy(delete_after=0), None, (110.0, None)),
    (lease(Phase.OFFLINE, expired=True), POLICY, None, None),
    # custom factors
    (
        lease(Phase.HEALTHY),
        HealthPolicy(unhealthy_after=1.5, offline_after=3),
        None,
        (103.0, Phase.UNHEALTHY),
    ),
    (
        lease(Phase.UNHEALTHY),
        HealthPolicy(unhealthy_after=1.5, offline_after=3),
        None,
        (106.0, Phase.OFFLINE),
    ),
    # startup grace: no deadline before one full unhealthy window after the start
    (lease(Phase.HEALTHY), POLICY, 1000.0, (1005.0, Phase.UNHEALTHY)),
    (lease(Phase.UNHEALTHY), POLICY, 1000.0, (1005.0, Phase.OFFLINE)),
    (lease(Phase.OFFLINE, since=110.0), POLICY, 1000.0, (3710.0, None)),
    (lease(Phase.OFFLINE, since=110.0), HealthPolicy(delete_after=60), 1000.0, (1005.0, None)),
    (lease(Phase.HEALTHY, beat=2000.0), POLICY, 1000.0, (2005.0, Phase.UNHEALTHY)),
]


@pytest.mark.parametrize(("subject", "policy", "grace", "expected"), TABLE)
def test_next_transition(
    subject: Lease, policy: HealthPolicy, grace: float | None, expected
) -> None:
    assert next_transition(subject, policy, grace) == expected


@pytest.mark.parametrize(
    "arguments",
    [
        {"unhealthy_after": 0},
        {"unhealthy_after": 5, "offline_after": 5},
        {"delete_after": -1},
        {"self_preservation_threshold": 1.0},
        {"self_preservation_threshold": 0},
        {"self_preservation_min_agents": 0},
    ],
)
def test_policy_rejects_nonsense(arguments: dict) -> None:
    with pytest.raises(ValueError):
        HealthPolicy(**arguments)


def test_reference_is_last_heartbeat_else_registration() -> None:
    assert lease(Phase.HEALTHY, beat=7.0).reference == 7.0
    assert lease(Phase.PENDING, beat=None, registered=3.0).reference == 3.0
