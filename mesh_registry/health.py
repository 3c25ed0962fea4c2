"""Agent health: leases in memory, phases derived from heartbeat age, transitions on time.

An agent's lease records when it last sent a heartbeat. With its heartbeat interval *h*:

    pending/healthy ──(no heartbeat for 2.5 h)──▶ unhealthy ──(5 h)──▶ offline ──(1 hour)──▶ deleted
          ▲                                           │                    │
          └──────────────── heartbeat ◀───────────────┴────────────────────┘

- Transitions happen at their exact deadline: one timer is armed on the earliest deadline of
  all leases, not a periodic sweep. A heartbeat only moves the lease's time forward in memory;
  it writes nothing and the timer notices the later deadline when it fires.
- Startup grace: after the registry starts, no deadline falls before every agent has had one
  full unhealthy window to heartbeat again (the registry was away, not the agents).
- Self-preservation: when more than a threshold (default half) of the agents that were
  heartbeating are overdue at once, the registry is more likely cut off than they are dead. It
  keeps marking agents unhealthy but holds every offline transition and deletion until the
  share of overdue agents falls back under the threshold. Agents that never sent a heartbeat
  are not counted: a registration that never comes alive says nothing about the network.

The monitor decides; it does not write. Each transition is queued on its lease; the owner takes
them in order (:meth:`HealthMonitor.pending`, :meth:`HealthMonitor.written`) and writes each as
one record change, so one watch event, per transition.

Only the leader decides deadlines (``leadership.py``): a monitor fires none until it is told to
lead, and stops when told to follow. A follower's leases take their phases from the records
the leader writes (:meth:`HealthMonitor.observe`); a heartbeat that ends an unhealthy spell is
written by whichever replica received it, leader or not. Heartbeats other replicas received
reach every monitor as :meth:`HealthMonitor.heartbeat_elsewhere`; a deadline transition carries
the heartbeat time it counted from (``basis``), so that the write can be refused if the
database knows a later one (:meth:`HealthMonitor.adopt` then puts the record's view back).
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from mesh_registry.clock import Clock, Timer
from mesh_registry.model import Agent, ObjectKey, Phase

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """When phases change. Ages are in heartbeat intervals except ``delete_after`` (seconds)."""

    unhealthy_after: float = 2.5
    offline_after: float = 5.0
    delete_after: float | None = 3600.0  # time spent offline before removal; None: never
    startup_grace: bool = True
    self_preservation: bool = True
    self_preservation_threshold: float = 0.5
    self_preservation_min_agents: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.unhealthy_after < self.offline_after:
            raise ValueError("need 0 < unhealthy_after < offline_after (in heartbeat intervals)")
        if self.delete_after is not None and self.delete_after < 0:
            raise ValueError("delete_after must be at least 0 seconds")
        if not 0 < self.self_preservation_threshold < 1:
            raise ValueError("self_preservation_threshold must be between 0 and 1")
        if self.self_preservation_min_agents < 1:
            raise ValueError("self_preservation_min_agents must be at least 1")


@dataclass(frozen=True, slots=True)
class Transition:
    """A phase change to persist: to ``phase`` at ``at`` (``phase`` ``None``: deletion).
    ``basis``: for a deadline, the heartbeat time (or registration) it counted from; ``None``
    for a heartbeat's revival."""

    phase: Phase | None
    at: float
    basis: float | None = None


@dataclass(slots=True)
class Lease:
    """What the registry knows of one agent's liveness, and the phase it should show."""

    key: ObjectKey
    interval: float
    phase: Phase
    phase_since: float
    registered_at: float
    last_heartbeat: float | None = None
    expired: bool = False  # offline long enough: the record should be deleted
    held: bool = False  # a transition is held back by self-preservation
    scheduled: float | None = None  # the deadline of this lease's live timer entry
    # A list, not a deque: it is nearly always empty, and an empty deque costs 600 bytes a lease.
    unwritten: list[Transition] = field(default_factory=list)  # oldest first

    @property
    def reference(self) -> float:
        """What heartbeat age counts from: the last heartbeat, else the registration."""
        return self.last_heartbeat if self.last_heartbeat is not None else self.registered_at


def next_transition(
    lease: Lease, policy: HealthPolicy, grace_start: float | None
) -> tuple[float, Phase | None] | None:
    """When ``lease`` next changes phase with no heartbeat, and to what (``None``: deletion).

    ``None`` when nothing more happens by time alone.
    """
    if lease.expired:
        return None
    window = policy.unhealthy_after * lease.interval
    target: Phase | None
    if lease.phase in (Phase.PENDING, Phase.HEALTHY):
        at, target = lease.reference + window, Phase.UNHEALTHY
    elif lease.phase is Phase.UNHEALTHY:
        at, target = lease.reference + policy.offline_after * lease.interval, Phase.OFFLINE
    elif policy.delete_after is None:
        return None
    else:
        at, target = lease.phase_since + policy.delete_after, None
    if grace_start is not None:
        at = max(at, grace_start + window)
    return at, target


class HealthMonitor:
    """Keeps every lease, fires transitions at their deadlines, and watches for mass expiry."""

    def __init__(
        self, clock: Clock, policy: HealthPolicy, on_change: Callable[[ObjectKey], None]
    ) -> None:
        self._clock = clock
        self._policy = policy
        self._on_change = on_change
        self._leases: dict[ObjectKey, Lease] = {}
        self._deadlines: list[tuple[float, int, ObjectKey]] = []
        self._sequence = itertools.count()
        self._timer: Timer | None = None
        self._timer_at: float | None = None
        self._counts: Counter[Phase] = Counter()
        self._overdue = 0  # unhealthy leases that had been heartbeating
        self._unsaved: set[ObjectKey] = set()
        self._held: set[ObjectKey] = set()
        self._grace_start: float | None = None
        self._started = False
        self._stopped = False
        self._leading = False
        self.self_preservation = False
        self.heartbeats = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, agents: Iterable[Agent], heartbeats: Mapping[ObjectKey, float]) -> None:
        """Take over the agents found at start-up, with their checkpointed heartbeat times.
        No deadline fires before :meth:`lead`."""
        for agent in agents:
            self._track(agent, heartbeats.get(agent.key))
        self._started = True
        self._update_self_preservation()

    def lead(self) -> None:
        """Decide deadlines from now on. With startup grace, none falls before every agent
        has had one full unhealthy window to heartbeat (to this replica or another): the
        registry was away, or another one led, not the agents."""
        self._leading = True
        if self._policy.startup_grace:
            self._grace_start = self._clock.now()
        for lease in self._leases.values():
            lease.scheduled = None
            self._schedule(lease)

    def follow(self, record_of: Callable[[ObjectKey], Agent | None]) -> None:
        """Stop deciding deadlines (another replica leads): every lease takes the phase of
        its record, ``record_of(key)``, and transitions not written yet are dropped."""
        self._leading = False
        self._disarm()
        self._deadlines.clear()
        for key, lease in list(self._leases.items()):
            lease.scheduled = None
            record = record_of(key)
            if record is not None and (lease.unwritten or lease.held or lease.expired):
                self.adopt(key, record)

    def stop(self) -> None:
        self._stopped = True
        self._disarm()

    # -- inputs ----------------------------------------------------------------------------

    def observe(self, key: ObjectKey, agent: Agent | None) -> None:
        """An object was created, changed (``agent``) or deleted (``None``). A record whose
        phase another replica wrote (the leader's deadline, a revival) is taken as it is,
        unless a transition of this monitor's own is on its way."""
        if agent is None:
            self._forget(key)
            return
        lease = self._leases.get(key)
        if lease is None:
            self._track(agent, None)
            return
        if not lease.unwritten and not lease.expired and agent.status.phase is not lease.phase:
            self.adopt(key, agent)
        elif lease.interval != agent.spec.health_interval:
            lease.interval = agent.spec.health_interval
            self._schedule(lease)

    def heartbeat(self, key: ObjectKey) -> Phase | None:
        """Record a heartbeat; return the agent's phase after it (``None``: an unknown agent).
        Never writes anything: a phase change it makes is queued (see :meth:`pending`)."""
        lease = self._leases.get(key)
        if lease is None:
            return None
        now = self._clock.now()
        self.heartbeats += 1
        self._unsaved.add(key)
        if lease.expired:
            # Alive after all: a deletion not yet written is called off.
            lease.expired = False
            if lease.unwritten and lease.unwritten[-1].phase is None:
                lease.unwritten.pop()
        if lease.phase is not Phase.HEALTHY:
            if lease.held:
                lease.held = False
                self._held.discard(key)
            self._set_phase(lease, Phase.HEALTHY, now)
            lease.last_heartbeat = now
            self._schedule(lease)
        else:
            # The timer entry is early now; when it fires, it finds the later deadline.
            lease.last_heartbeat = now
        return lease.phase

    def heartbeat_elsewhere(self, key: ObjectKey, at: float) -> None:
        """Another replica received a heartbeat at ``at``: a later deadline, and nothing else
        (that replica writes the revival, if there is one to write)."""
        lease = self._leases.get(key)
        if lease is not None and (lease.last_heartbeat is None or at > lease.last_heartbeat):
            lease.last_heartbeat = at

    def adopt(self, key: ObjectKey, record: Agent, heartbeat: float | None = None) -> None:
        """Take the phase ``record`` holds, dropping the transitions not written yet (they
        were refused: another leader, or a heartbeat the decision did not know, at
        ``heartbeat``)."""
        lease = self._leases.get(key)
        if lease is None:
            return
        self._leave(lease)
        lease.unwritten.clear()
        lease.expired = False
        if lease.held:
            lease.held = False
            self._held.discard(key)
        status = record.status
        lease.phase = status.phase
        lease.phase_since = _timestamp(status.phase_since, lease.phase_since)
        for seen in (heartbeat, _optional_timestamp(status.last_heartbeat_time)):
            if seen is not None and (lease.last_heartbeat is None or seen > lease.last_heartbeat):
                lease.last_heartbeat = seen
        self._enter(lease)
        lease.scheduled = None
        self._schedule(lease)
        self._update_self_preservation()

    # -- outputs ---------------------------------------------------------------------------

    def lease(self, key: ObjectKey) -> Lease | None:
        return self._leases.get(key)

    def last_heartbeat(self, key: ObjectKey) -> float | None:
        """When the agent last sent a heartbeat (epoch seconds), if it ever did."""
        lease = self._leases.get(key)
        return None if lease is None else lease.last_heartbeat

    def pending(self, key: ObjectKey) -> Transition | None:
        """The oldest transition of the agent not yet written into its record."""
        lease = self._leases.get(key)
        return lease.unwritten[0] if lease is not None and lease.unwritten else None

    def written(self, key: ObjectKey, transition: Transition) -> None:
        """``transition`` is in the record now (a heartbeat may have called it off meanwhile)."""
        lease = self._leases.get(key)
        if lease is not None and lease.unwritten and lease.unwritten[0] is transition:
            lease.unwritten.pop(0)

    def counts(self) -> dict[Phase, int]:
        return {phase: self._counts[phase] for phase in Phase}

    def unsaved_heartbeats(self) -> dict[ObjectKey, float]:
        """Heartbeat times not yet checkpointed (and forget that they were unsaved)."""
        unsaved = {}
        for key in self._unsaved:
            lease = self._leases.get(key)
            if lease is not None and lease.last_heartbeat is not None:
                unsaved[key] = lease.last_heartbeat
        self._unsaved.clear()
        return unsaved

    def requeue_unsaved(self, keys: Iterable[ObjectKey]) -> None:
        """A checkpoint failed: keep these for the next one."""
        self._unsaved.update(keys)

    # -- internals -------------------------------------------------------------------------

    def _track(self, agent: Agent, last_heartbeat: float | None) -> None:
        now = self._clock.now()
        status = agent.status
        lease = Lease(
            key=agent.key,
            interval=agent.spec.health_interval,
            phase=status.phase,
            phase_since=_timestamp(status.phase_since, now),
            registered_at=_timestamp(agent.metadata.creation_timestamp, now),
            last_heartbeat=last_heartbeat,
        )
        self._leases[lease.key] = lease
        self._enter(lease)
        self._schedule(lease)
        if self._started:
            self._update_self_preservation()

    def _forget(self, key: ObjectKey) -> None:
        lease = self._leases.pop(key, None)
        if lease is None:
            return
        self._leave(lease)
        self._held.discard(key)
        self._unsaved.discard(key)
        self._update_self_preservation()

    def _set_phase(self, lease: Lease, phase: Phase, at: float, basis: float | None = None) -> None:
        self._leave(lease)
        lease.phase = phase
        lease.phase_since = at
        self._enter(lease)
        lease.unwritten.append(Transition(phase, at, basis))
        self._update_self_preservation()

    def _enter(self, lease: Lease) -> None:
        """Count ``lease`` as it is now (its phase, and whether it is overdue)."""
        self._counts[lease.phase] += 1
        self._overdue += _is_overdue(lease)

    def _leave(self, lease: Lease) -> None:
        self._counts[lease.phase] -= 1
        self._overdue -= _is_overdue(lease)

    def _schedule(self, lease: Lease) -> None:
        """Make sure a timer entry exists no later than the lease's next deadline (while
        leading: a follower fires none)."""
        if not self._leading:
            return
        step = next_transition(lease, self._policy, self._grace_start)
        if step is not None and (lease.scheduled is None or step[0] < lease.scheduled):
            self._push(lease, step[0])

    def _push(self, lease: Lease, at: float) -> None:
        lease.scheduled = at
        heapq.heappush(self._deadlines, (at, next(self._sequence), lease.key))
        if self._timer_at is None or at < self._timer_at:
            self._arm()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, None

    def _arm(self) -> None:
        self._disarm()
        if self._deadlines and not self._stopped and self._leading:
            self._timer_at = self._deadlines[0][0]
            self._timer = self._clock.call_at(self._timer_at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, None
        now = self._clock.now()
        while self._deadlines and self._deadlines[0][0] <= now:
            at, _, key = heapq.heappop(self._deadlines)
            lease = self._leases.get(key)
            if lease is None or lease.scheduled != at:
                continue  # superseded by an earlier entry, or the agent is gone
            lease.scheduled = None
            self._advance(lease, now, late=False)
        self._arm()

    def _advance(self, lease: Lease, now: float, *, late: bool) -> None:
        """Apply every transition of ``lease`` due by ``now``; then schedule the next one.

        A transition is stamped with its deadline, except one released late by the end of
        self-preservation, which happens now.
        """
        changed = False
        while (step := next_transition(lease, self._policy, self._grace_start)) is not None:
            at, target = step
            if at > now:
                self._push(lease, at)
                break
            if target is not Phase.UNHEALTHY and self.self_preservation:
                lease.held = True
                self._held.add(lease.key)
                break
            changed = True
            basis = lease.reference
            if target is None:
                lease.expired = True
                lease.unwritten.append(Transition(None, now if late else at, basis))
                break
            self._set_phase(lease, target, now if late else at, basis)
        if changed:
            self._on_change(lease.key)

    def _update_self_preservation(self) -> None:
        policy = self._policy
        healthy, overdue = self._counts[Phase.HEALTHY], self._overdue
        population = healthy + overdue
        engaged = (
            policy.self_preservation
            and population >= policy.self_preservation_min_agents
            and overdue > policy.self_preservation_threshold * population
        )
        if engaged == self.self_preservation:
            return
        self.self_preservation = engaged
        if engaged:
            log.warning(
                "self-preservation engaged: %d of %d agents are overdue at once; holding every"
                " offline transition and deletion until heartbeats recover",
                overdue,
                population,
            )
            return
        log.warning("self-preservation released: %d of %d agents overdue", overdue, population)
        now = self._clock.now()
        for key in list(self._held):
            self._held.discard(key)
            lease = self._leases.get(key)
            if lease is not None and lease.held:
                lease.held = False
                self._advance(lease, now, late=True)


def _is_overdue(lease: Lease) -> bool:
    return lease.phase is Phase.UNHEALTHY and lease.last_heartbeat is not None


def _timestamp(value: datetime | None, default: float) -> float:
    return value.timestamp() if value is not None else default


def _optional_timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None
