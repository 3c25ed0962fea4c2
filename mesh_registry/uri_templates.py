"""Which URIs an RFC 6570 URI template stands for, as a pattern: what a resource template of
an agent serves (discovery by resource URI, and the gateway's routing of ``resources/read``)."""

from __future__ import annotations

import re
from functools import lru_cache

# {var} and its operators. Reserved ({+var}), fragment ({#var}) and query-like expansions may
# contain '/', the others stay within one path segment.
_EXPRESSION = re.compile(r"\{([+#./;?&]?)[^{}]*\}")
_SPANS_SEGMENTS = frozenset({"+", "#", "?", "&", ";"})


def fits(template: str, uri: str) -> bool:
    """Whether ``uri`` is an expansion of the URI ``template``."""
    return _pattern(template).fullmatch(uri) is not None


@lru_cache(maxsize=4096)
def _pattern(template: str) -> re.Pattern[str]:
    parts = []
    position = 0
    for expression in _EXPRESSION.finditer(template):
        parts.append(re.escape(template[position : expression.start()]))
        parts.append(".*" if expression.group(1) in _SPANS_SEGMENTS else "[^/]*")
        position = expression.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts))
