"""Share what the registry's objects repeat, so that holding 100k of them in memory stays cheap.

Every pydantic model carries the set of its fields that were given (``model_fields_set``): a
set of its own per instance, 200 to 700 bytes, for an agent about 3 kB in all, more than its data.
Agents' sets hold the same few combinations of names, and the models are frozen: nothing adds
to a set once the model is built (``model_copy`` copies the set before it updates it). So the
objects the registry keeps share one set per combination. Likewise short strings that many
agents repeat (label keys and values, capability names, versions, tags) are interned, and the
tools' schemas, which the replicas of a service repeat, are shared when they are equal to the
letter: the same keys in the same order, the same values of the same JSON types.

Neither changes what an object is, says or serializes to: only which equal objects it holds.
"""

from __future__ import annotations

import json
import sys
from collections import OrderedDict
from typing import Any, TypeVar

from pydantic import BaseModel

_M = TypeVar("_M", bound=BaseModel)
# Longer strings are names, addresses and descriptions: seldom repeated.
_SHORT = 64
# One set per distinct combination of field names: bounded by the models' fields.
_field_sets: dict[frozenset[str], set[str]] = {}
# A capability's tool schemas: shared when equal.
_SCHEMA_FIELDS = frozenset({"input_schema", "output_schema"})
# Schemas up to this size (as JSON) are shared; larger ones are rare and left alone.
_SCHEMA_BYTES = 4096
# The table remembers the schemas it saw last, not every schema ever registered: what it holds
# for schemas no agent has any more stays bounded (about 5 MB at most).
_SCHEMAS_KEPT = 1024
_schemas: OrderedDict[str, dict[str, Any]] = OrderedDict()
# The JSON text of each schema in the table, by the schema's id (stable while the table holds
# it): a record compacted again after a status change keeps its schemas without encoding them.
_texts_by_id: dict[int, str] = {}
# One encoder, made once: ``json.dumps`` with options builds a new one per call.
_schema_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def compacted(model: _M) -> _M:
    """``model``, holding shared field sets and interned short strings (changed in place: the
    model and what it holds stay equal to what they were)."""
    _compact(model)
    return model


def _compact(model: BaseModel) -> None:
    given = model.__pydantic_fields_set__
    names = frozenset(given)
    if _field_sets.get(names) is given:
        # Compacted already, with all it holds: only this function gives a model a shared set
        # (a copy gets a set of its own). A record written again after a status change shares
        # its metadata and spec with the one before: only its status is new.
        return
    shared = _field_sets.setdefault(names, given)
    object.__setattr__(model, "__pydantic_fields_set__", shared)
    fields = model.__dict__
    for name, value in fields.items():
        if name in _SCHEMA_FIELDS and isinstance(value, dict):
            fields[name] = _shared_schema(value)
        elif isinstance(value, str):
            fields[name] = _interned(value)
        elif isinstance(value, BaseModel):
            _compact(value)
        elif isinstance(value, (tuple, list)):
            fields[name] = _compact_items(value)
        elif isinstance(value, dict) and _string_map(value):
            fields[name] = {_interned(k): _interned(v) for k, v in value.items()}


def _compact_items(items: tuple[Any, ...] | list[Any]) -> tuple[Any, ...] | list[Any]:
    for item in items:
        if isinstance(item, BaseModel):
            _compact(item)
    if items and all(isinstance(item, str) for item in items):
        interned = [_interned(item) for item in items]
        return tuple(interned) if isinstance(items, tuple) else interned
    return items


def _string_map(mapping: dict[Any, Any]) -> bool:
    return all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())


def _shared_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema equal to ``schema`` that the table holds, or ``schema`` (then remembered).

    JSON text is the key: it tells apart what Python's ``==`` does not (``1``, ``1.0`` and
    ``true``; the order of keys), so the shared schema serializes exactly as ``schema`` does.
    """
    text = _texts_by_id.get(id(schema))
    if text is not None:  # the table's own object
        _schemas.move_to_end(text)
        return schema
    try:
        text = _schema_text(schema)
    except (TypeError, ValueError):  # not JSON data: nothing to share it with
        return schema
    if len(text) > _SCHEMA_BYTES:
        return schema
    shared = _schemas.get(text)
    if shared is not None:
        _schemas.move_to_end(text)
        return shared
    _schemas[text] = schema
    _texts_by_id[id(schema)] = text
    if len(_schemas) > _SCHEMAS_KEPT:
        _, evicted = _schemas.popitem(last=False)
        del _texts_by_id[id(evicted)]
    return schema


def _interned(text: str) -> str:
    # Interned strings are released when nothing holds them any more.
    return sys.intern(text) if len(text) <= _SHORT and type(text) is str else text
