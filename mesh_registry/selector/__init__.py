"""Kubernetes label selectors: exactly the grammar and meaning of ``labels.Parse``.

>>> selector = parse_selector("env=prod, tier in (gold,silver), !canary")
>>> selector.matches({"env": "prod", "tier": "gold"})
True
>>> str(selector)
'!canary,env=prod,tier in (gold,silver)'
"""

from mesh_registry.selector.errors import SelectorError
from mesh_registry.selector.requirement import MAX_VALUES, Operator, Requirement
from mesh_registry.selector.selector import (
    EVERYTHING,
    MAX_REQUIREMENTS,
    MAX_SELECTOR_LENGTH,
    Selector,
    parse_selector,
    selector_from_label_selector,
    selector_from_labels,
)

__all__ = [
    "EVERYTHING",
    "MAX_REQUIREMENTS",
    "MAX_SELECTOR_LENGTH",
    "MAX_VALUES",
    "Operator",
    "Requirement",
    "Selector",
    "SelectorError",
    "parse_selector",
    "selector_from_label_selector",
    "selector_from_labels",
]
