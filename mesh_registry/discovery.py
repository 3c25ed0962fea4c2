"""Which agents a query selects, and in which order discovery returns them.

One :class:`Query` serves lists, watches and discovery, so that all three agree on what matches.
A query names capabilities in one of two ways: ``ANY`` (agents providing at least one of them:
what a dependency watch needs) or ``ALL`` (agents providing every one: what a caller looking for
one service needs). Version and tag constraints apply to the named capabilities' entries.

Ranking (docs/design.md, "Discovery"): tag score (preferred tags present) descending, then
the highest version of the matched capability, then name, then namespace. Pure: the SDK ranks
with this module too.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter

from mesh_registry import validation
from mesh_registry.errors import BadRequest
from mesh_registry.model import Agent, Capability, DependencySpec, Phase
from mesh_registry.selector import EVERYTHING, Selector, parse_selector
from mesh_registry.uri_templates import fits
from mesh_registry.versions import (
    PrecedenceKey,
    VersionRange,
    parse_version_range,
    precedence_key,
)

_LOWEST: PrecedenceKey = (-1, -1, -1, -1, ())
RankKey = tuple[int, PrecedenceKey]  # (tag score, version precedence): higher is better
# Sort keys of ranked()'s rows (tag score, version, name, namespace, agent), applied in C.
_NAME_ORDER = itemgetter(2, 3)
_RANK_ORDER = itemgetter(0, 1)


class QueryError(BadRequest):
    """A query parameter that cannot be used (a 400); ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(f"{parameter}: {message}")


class Match(enum.Enum):
    ANY = "any"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class TagFilter:
    """Tags as written in a query: ``x`` required, ``+x`` preferred, ``-x`` excluded."""

    required: frozenset[str] = frozenset()
    preferred: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, tags: Iterable[str]) -> TagFilter:
        required: set[str] = set()
        preferred: set[str] = set()
        excluded: set[str] = set()
        for written in tags:
            kind, tag = written[:1], written[1:]
            bucket = {"+": preferred, "-": excluded}.get(kind)
            if bucket is None:
                bucket, tag = required, written
            problems = validation.tag_errors(tag)
            if problems:
                raise QueryError("tags", f"invalid tag {written!r}: {'; '.join(problems)}")
            bucket.add(tag)
        return cls(frozenset(required), frozenset(preferred), frozenset(excluded))

    @property
    def empty(self) -> bool:
        return not (self.required or self.preferred or self.excluded)

    def accepts(self, tags: Sequence[str]) -> bool:
        present = set(tags)
        return self.required <= present and not (self.excluded & present)

    def score(self, tags: Sequence[str]) -> int:
        return len(self.preferred.intersection(tags))


@dataclass(frozen=True, slots=True)
class Query:
    """A filter over agents. The default query matches every agent."""

    capabilities: frozenset[str] = frozenset()
    match: Match = Match.ANY
    selector: Selector = EVERYTHING
    namespace: str | None = None
    # The namespaces the asker may see (None: all): a scope, not a filter the asker chose.
    scope: frozenset[str] | None = None
    phases: frozenset[Phase] | None = None  # None: any phase
    version: VersionRange | None = None
    tags: TagFilter = field(default_factory=TagFilter)
    prompts: frozenset[str] = frozenset()  # offered by name: any, or all as ``match`` says
    resource: str = ""  # served: a resource at this URI, or a template it fits
    # Derived, for speed: matching runs once per candidate.
    _phase_tuple: tuple[Phase, ...] | None = field(init=False, repr=False, compare=False)
    _checks_entries: bool = field(init=False, repr=False, compare=False)
    _only_capability: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A tuple's membership test compares identities: no enum hashing.
        phases = None if self.phases is None else tuple(sorted(self.phases))
        object.__setattr__(self, "_phase_tuple", phases)
        object.__setattr__(self, "_checks_entries", self.version is not None or not self.tags.empty)
        # One capability named: ANY and ALL ask the same, one entry of that name (the usual
        # discovery, tested on its own: no list built per candidate).
        only = next(iter(self.capabilities)) if len(self.capabilities) == 1 else None
        object.__setattr__(self, "_only_capability", only)

    @classmethod
    def build(
        cls,
        *,
        capabilities: Iterable[str] = (),
        match: Match = Match.ANY,
        selector: str | Selector = "",
        namespace: str | None = None,
        scope: frozenset[str] | None = None,
        phases: Iterable[str | Phase] | None = None,
        version: str = "",
        tags: Iterable[str] = (),
        prompts: Iterable[str] = (),
        resource: str = "",
    ) -> Query:
        """A query from the strings a request carries; raise :class:`QueryError`."""
        names = frozenset(capabilities)
        prompt_names = frozenset(prompts)
        for name in prompt_names:
            problems = validation.tool_name_errors(name)
            if problems:
                raise QueryError("prompt", f"invalid prompt name {name!r}: {problems[0]}")
        if resource:
            problems = validation.resource_uri_errors(resource)
            if problems:
                raise QueryError("resource", f"invalid resource URI {resource!r}: {problems[0]}")
        for name in names:
            problems = validation.capability_name_errors(name)
            if problems:
                raise QueryError("capability", f"invalid capability {name!r}: {problems[0]}")
        if isinstance(selector, str):
            try:
                selector = parse_selector(selector)
            except ValueError as error:
                raise QueryError("labelSelector", str(error)) from None
        if namespace is not None:
            problems = validation.dns1123_label_errors(namespace)
            if problems:
                raise QueryError("namespace", f"invalid namespace {namespace!r}: {problems[0]}")
        return cls(
            capabilities=names,
            match=match,
            selector=selector,
            namespace=namespace,
            scope=scope,
            phases=None if phases is None else _parse_phases(phases),
            version=_parse_range(version),
            tags=TagFilter.parse(tags),
            prompts=prompt_names,
            resource=resource,
        )

    @classmethod
    def for_dependency(cls, dependency: DependencySpec, namespace: str | None = None) -> Query:
        """The healthy providers that satisfy ``dependency``."""
        return cls.build(
            capabilities=[dependency.capability],
            match=Match.ALL,
            selector=dependency.selector,
            namespace=namespace,
            phases=[Phase.HEALTHY],
            version=dependency.version,
            tags=dependency.tags,
        )

    def without_exact_labels(self) -> Query:
        """This query less its requirements of exact label values (``=``, ``==``, ``in``):
        what is left to test of objects that a label index found to meet those."""
        rest = [r for r in self.selector.requirements if r.required_values is None]
        if len(rest) == len(self.selector.requirements):
            return self
        return replace(self, selector=Selector(tuple(rest)))

    def matches(self, agent: Agent) -> bool:
        if not self._matches_object(agent):
            return False
        return not self._constrains_capabilities or bool(self._matched(agent))

    def rank(self, agents: Iterable[Agent]) -> list[Agent]:
        """The matching ``agents``, best first (docs/design.md, "Discovery")."""
        return [agent for _, agent in self.ranked(agents)]

    def ranked(self, agents: Iterable[Agent]) -> list[tuple[RankKey, Agent]]:
        """The matching ``agents`` with their rank (tag score, version), best first; agents
        with equal keys are equally good, and appear in name order."""
        scored: list[tuple[int, PrecedenceKey, str, str, Agent]] = []
        constrained = self._constrains_capabilities
        score = self.tags.score if self.tags.preferred else None
        for agent in agents:
            if not self._matches_object(agent):
                continue
            matched = self._matched(agent)
            if len(matched) == 1:
                best = precedence_key(matched[0].version)
                tags = score(matched[0].tags) if score is not None else 0
            elif matched:
                best = max([precedence_key(c.version) for c in matched])
                tags = max([score(c.tags) for c in matched]) if score is not None else 0
            elif constrained:
                continue
            else:
                best, tags = _LOWEST, 0
            metadata = agent.metadata
            scored.append((tags, best, metadata.name, metadata.namespace, agent))
        scored.sort(key=_NAME_ORDER)
        # Stable sort: equal score and version keep the name order set above.
        scored.sort(key=_RANK_ORDER, reverse=True)
        return [((tags, best), agent) for tags, best, _, _, agent in scored]

    def _matches_object(self, agent: Agent) -> bool:
        """Namespace, phase and labels: everything but the capability entries."""
        if self.namespace is not None and agent.metadata.namespace != self.namespace:
            return False
        if self.scope is not None and agent.metadata.namespace not in self.scope:
            return False
        if self._phase_tuple is not None and agent.status.phase not in self._phase_tuple:
            return False
        if (self.prompts or self.resource) and not self._offers(agent):
            return False
        return self.selector.matches(agent.metadata.labels)

    def _offers(self, agent: Agent) -> bool:
        """The prompts asked for (any of them, or all as ``match`` says), and the resource."""
        if self.prompts:
            offered = {prompt.name for prompt in agent.spec.prompts}
            found = self.prompts & offered
            if not found or (self.match is Match.ALL and found != self.prompts):
                return False
        return not self.resource or serves(agent, self.resource)

    @property
    def _constrains_capabilities(self) -> bool:
        return bool(self.capabilities) or self._checks_entries

    def _matched(self, agent: Agent) -> list[Capability]:
        """The capability entries of ``agent`` that satisfy the query (empty: no match)."""
        entries = agent.spec.capabilities
        only = self._only_capability
        if only is not None:
            for entry in entries:
                if entry.name == only:
                    return [entry] if not self._checks_entries or self._entry_ok(entry) else []
            return []
        if self.capabilities:
            entries = [c for c in entries if c.name in self.capabilities]
        if self._checks_entries:
            entries = [c for c in entries if self._entry_ok(c)]
        # Capability names are unique within an agent: one entry per requested name at most.
        if self.match is Match.ALL and len(entries) < len(self.capabilities):
            return []
        return entries

    def _entry_ok(self, capability: Capability) -> bool:
        if self.version is not None and not self.version.matches(capability.version):
            return False
        return self.tags.accepts(capability.tags)


def _parse_phases(phases: Iterable[str | Phase]) -> frozenset[Phase]:
    parsed = set()
    for phase in phases:
        try:
            parsed.add(Phase(phase))
        except ValueError:
            allowed = ", ".join(p.value for p in Phase)
            raise QueryError("phase", f"unknown phase {phase!r}; one of: {allowed}") from None
    return frozenset(parsed)


def _parse_range(version: str) -> VersionRange | None:
    try:
        parsed = parse_version_range(version)
    except ValueError as error:
        raise QueryError("version", str(error)) from None
    return None if parsed.any else parsed


def serves(agent: Agent, uri: str) -> bool:
    """Whether ``agent`` serves the resource at ``uri``: as a resource, or by a template."""
    return any(r.uri == uri for r in agent.spec.resources) or any(
        fits(t.uri_template, uri) for t in agent.spec.resource_templates
    )
