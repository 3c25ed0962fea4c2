"""One requirement of a label selector: a key, an operator and a set of values."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from mesh_registry.validation import label_value_errors, qualified_name_errors

# Bounds on what one selector may ask (Kubernetes has none; a registry that evaluates selectors
# of its watchers on every write needs them).
MAX_VALUES = 100
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_GO_INT = re.compile(r"[+-]?[0-9]+")


class Operator(enum.Enum):
    """Kubernetes' ``selection.Operator`` values."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_SET_OPERATORS = frozenset({Operator.IN, Operator.NOT_IN})
_EXACT_OPERATORS = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS})
_UNARY_OPERATORS = frozenset({Operator.EXISTS, Operator.DOES_NOT_EXIST})
_NUMERIC_OPERATORS = frozenset({Operator.GREATER_THAN, Operator.LESS_THAN})
_SHOWN_AS = {
    Operator.IN: " in ",
    Operator.NOT_IN: " notin ",
    Operator.EQUALS: "=",
    Operator.DOUBLE_EQUALS: "==",
    Operator.NOT_EQUALS: "!=",
    Operator.GREATER_THAN: ">",
    Operator.LESS_THAN: "<",
}


class RequirementError(ValueError):
    """An invalid requirement; ``field`` is ``key``, ``values`` or ``values[i]``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def parse_int64(text: str) -> int | None:
    """``text`` as Go's ``strconv.ParseInt(text, 10, 64)`` reads it, or ``None``."""
    if not _GO_INT.fullmatch(text):
        return None
    number = int(text)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


@dataclass(frozen=True, slots=True)
class Requirement:
    """``key operator values``; build it with :meth:`create`, which validates."""

    key: str
    operator: Operator
    values: frozenset[str]
    # The test of one label value (None: no such label), chosen once: matching is the hot path.
    _test: Callable[[str | None], bool] = field(compare=False, repr=False, default=bool)

    @classmethod
    def create(cls, key: str, operator: Operator, values: Iterable[str] = ()) -> Requirement:
        """Validate as Kubernetes' ``NewRequirement`` does; raise :class:`RequirementError`."""
        listed = list(values)
        problems = qualified_name_errors(key)
        if problems:
            raise RequirementError("key", f"invalid label key {key!r}: {'; '.join(problems)}")
        bound = _check_values(operator, listed)
        for index, value in enumerate(listed):
            problems = label_value_errors(value)
            if problems:
                raise RequirementError(
                    f"values[{index}]", f"invalid label value {value!r}: {'; '.join(problems)}"
                )
        value_set = frozenset(listed)
        return cls(key, operator, value_set, _test_for(operator, value_set, bound))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement (Kubernetes' ``Requirement.Matches``)."""
        return self._test(labels.get(self.key))

    @property
    def required_values(self) -> frozenset[str] | None:
        """The values of which a matching object's label must have one (``=``, ``==``,
        ``in``); ``None`` when absent keys or other values may match too. Lets an index
        narrow a search before each object is tested."""
        if self.operator in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return self.values
        return None

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        shown = ",".join(sorted(self.values))
        if self.operator in _SET_OPERATORS:
            shown = f"({shown})"
        return f"{self.key}{_SHOWN_AS[self.operator]}{shown}"


def _check_values(operator: Operator, values: list[str]) -> int | None:
    """Check the value count for ``operator``; return the integer bound of ``gt``/``lt``."""
    if operator in _SET_OPERATORS:
        if not values:
            raise RequirementError(
                "values", "for 'in', 'notin' operators, values set can't be empty"
            )
        if len(values) > MAX_VALUES:
            raise RequirementError(
                "values", f"a set may hold at most {MAX_VALUES} values, got {len(values)}"
            )
    elif operator in _EXACT_OPERATORS:
        if len(values) != 1:
            raise RequirementError("values", "exact-match compatibility requires one single value")
    elif operator in _UNARY_OPERATORS:
        if values:
            raise RequirementError(
                "values", "values set must be empty for exists and does not exist"
            )
    elif operator in _NUMERIC_OPERATORS:
        if len(values) != 1:
            raise RequirementError(
                "values", "for 'gt', 'lt' operators, exactly one value is required"
            )
        bound = parse_int64(values[0])
        if bound is None:
            raise RequirementError(
                "values[0]",
                f"for 'gt', 'lt' operators, the value must be an integer: {values[0]!r}",
            )
        return bound
    return None


def _test_for(
    operator: Operator, values: frozenset[str], bound: int | None
) -> Callable[[str | None], bool]:
    """How one label value (``None``: the label is absent) is tested for ``operator``."""
    if operator in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
        return values.__contains__  # None is never in the set: the key must exist
    if operator in (Operator.NOT_IN, Operator.NOT_EQUALS):
        return lambda value: value not in values  # absent keys match, as in Kubernetes
    if operator is Operator.EXISTS:
        return lambda value: value is not None
    if operator is Operator.DOES_NOT_EXIST:
        return lambda value: value is None
    assert bound is not None
    greater = operator is Operator.GREATER_THAN

    def compare(value: str | None) -> bool:
        number = None if value is None else parse_int64(value)
        if number is None:
            return False  # gt/lt need the key, with an integer value
        return number > bound if greater else number < bound

    return compare
