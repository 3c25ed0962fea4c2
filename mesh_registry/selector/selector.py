"""The selector itself: an AND of requirements, and the ways to build one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mesh_registry.selector.errors import SelectorError
from mesh_registry.selector.parser import Parser
from mesh_registry.selector.requirement import Operator, Requirement, RequirementError

MAX_REQUIREMENTS = 100
MAX_SELECTOR_LENGTH = 16 * 1024
_EXPRESSION_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


@dataclass(frozen=True, slots=True)
class Selector:
    """An AND of requirements. The empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def of(cls, requirements: Iterable[Requirement]) -> Selector:
        """A selector of ``requirements``; :class:`SelectorError` beyond ``MAX_REQUIREMENTS``."""
        listed = list(requirements)
        if len(listed) > MAX_REQUIREMENTS:
            raise SelectorError(
                f"a selector may have at most {MAX_REQUIREMENTS} requirements, got {len(listed)}"
            )
        # Sorted by key (then by text, for equal keys) so that equal selectors print the same.
        return cls(tuple(sorted(listed, key=lambda r: (r.key, str(r)))))

    def matches(self, labels: Mapping[str, str]) -> bool:
        # A plain loop: all() over a generator costs more, and this runs per candidate.
        for requirement in self.requirements:  # noqa: SIM110
            if not requirement.matches(labels):
                return False
        return True

    @property
    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


EVERYTHING = Selector()


def parse_selector(text: str) -> Selector:
    """Parse a label selector with Kubernetes' grammar; raise :class:`SelectorError`."""
    if len(text) > MAX_SELECTOR_LENGTH:
        raise SelectorError(
            f"a selector may be at most {MAX_SELECTOR_LENGTH} characters long, got {len(text)}"
        )
    return _parsed(text)


# Queries repeat their selectors (every read of a consumer asks the same): selectors are
# immutable, so the last ones parsed are kept (at most 256 x 16 kB of text). Errors are not.
@lru_cache(maxsize=256)
def _parsed(text: str) -> Selector:
    return Selector.of(Parser(text).parse())


def selector_from_labels(labels: Mapping[str, str]) -> Selector:
    """The selector ``k1=v1,k2=v2,…`` (Kubernetes' ``matchLabels``), validated."""
    requirements = []
    for key, value in labels.items():
        try:
            requirements.append(Requirement.create(key, Operator.EQUALS, [value]))
        except RequirementError as error:
            raise SelectorError(error.message, field=f"matchLabels[{key!r}]") from None
    return Selector.of(requirements)


def selector_from_label_selector(label_selector: Mapping[str, Any]) -> Selector:
    """A selector from Kubernetes' structured form.

    ``{"matchLabels": {...}, "matchExpressions": [{"key", "operator", "values"}, ...]}``, with
    the operators ``In``, ``NotIn``, ``Exists`` and ``DoesNotExist``. An empty form matches
    everything.
    """
    unknown = set(label_selector) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise SelectorError(f"unknown field {sorted(unknown)[0]!r}", field="labelSelector")
    # null is an absent field, as in Kubernetes' JSON; anything else must have the right type.
    match_labels = _or_default(label_selector.get("matchLabels"), {})
    if not isinstance(match_labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in match_labels.items()
    ):
        raise SelectorError("must be an object of strings", field="matchLabels")
    requirements = list(selector_from_labels(match_labels).requirements)
    expressions = _or_default(label_selector.get("matchExpressions"), [])
    if not _is_list(expressions):
        raise SelectorError("must be a list", field="matchExpressions")
    for index, expression in enumerate(expressions):
        requirements.append(_expression_requirement(index, expression))
    return Selector.of(requirements)


def _expression_requirement(index: int, expression: object) -> Requirement:
    where = f"matchExpressions[{index}]"
    if not isinstance(expression, Mapping):
        raise SelectorError("must be an object", field=where)
    unknown = set(expression) - {"key", "operator", "values"}
    if unknown:
        raise SelectorError(f"unknown field {sorted(unknown)[0]!r}", field=where)
    key = expression.get("key")
    if not isinstance(key, str):
        raise SelectorError("must be a string", field=f"{where}.key")
    name = expression.get("operator")
    operator = _EXPRESSION_OPERATORS.get(name) if isinstance(name, str) else None
    if operator is None:
        raise SelectorError(
            f"{name!r} is not a valid label selector operator; supported: "
            + ", ".join(_EXPRESSION_OPERATORS),
            field=f"{where}.operator",
        )
    values = _or_default(expression.get("values"), [])
    if not _is_list(values):
        raise SelectorError("must be a list of strings", field=f"{where}.values")
    if not all(isinstance(value, str) for value in values):
        raise SelectorError("must be a list of strings", field=f"{where}.values")
    try:
        return Requirement.create(key, operator, values)
    except RequirementError as error:
        raise SelectorError(error.message, field=f"{where}.{error.field}") from None


def _or_default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)
