"""Label selectors: Kubernetes' grammar, meaning, canonical form and errors, table-driven."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_registry.selector import (
    Operator,
    Requirement,
    SelectorError,
    parse_selector,
    selector_from_label_selector,
    selector_from_labels,
)
from mesh_registry.selector import selector as selector_module
from mesh_registry.selector.lexer import Token, tokenize

# (input, canonical form): what Kubernetes' Parse accepts, and how String() prints it.
PARSES = [
    ("", ""),
    ("   ", ""),
    ("x=a,y=b,z=c", "x=a,y=b,z=c"),
    ("x!=a,y=b", "x!=a,y=b"),
    ("x=", "x="),
    ("x= ", "x="),
    ("x=,z= ", "x=,z="),
    ("x= ,z= ", "x=,z="),
    ("!x", "!x"),
    ("x>1", "x>1"),
    ("x>1,z<5", "x>1,z<5"),
    ("x==a", "x==a"),
    ("\rx", "x"),
    ("x\t=\na", "x=a"),
    ("this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"),
    (
        "this-is-another-dns.domain.com/key-with-dash in (so,what)",
        "this-is-another-dns.domain.com/key-with-dash in (so,what)",
    ),
    (
        "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
        "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)",
    ),
    ("foo  in\t (abc)", "foo in (abc)"),
    ("x notin\n (abc)", "x notin (abc)"),
    ("x  notin\t\t\t(abc,def)", "x notin (abc,def)"),
    ("x in (abc,def)", "x in (abc,def)"),
    ("x in (def,abc,def)", "x in (abc,def)"),  # a set: duplicates collapse, values sort
    ("x in (abc,)", "x in (,abc)"),
    ("x in ()", "x in ()"),  # "()" is the set holding the empty value
    ("x in (,)", "x in ()"),
    ("x notin ( )", "x notin ()"),
    ("x notin (, a)", "x notin (,a)"),
    ("x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()"),
    ("x,y in (a)", "x,y in (a)"),
    ("x=a,y!=b,z in (h,i,j)", "x=a,y!=b,z in (h,i,j)"),
    ("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"),  # keywords are values in a set
    ("notin=in", "notin=in"),  # ... and keys and values around an operator
    ("in in (in)", "in in (in)"),
    ("a ", "a"),
    ("x=a,a=x", "a=x,x=a"),  # sorted by key: deterministic
    ("z,a,m", "a,m,z"),
    ("x=b,x=a", "x=a,x=b"),  # equal keys: sorted by text
    ("x>007", "x>007"),
    ("x<9223372036854775807", "x<9223372036854775807"),
    ("example.com/a=b", "example.com/a=b"),
    ("a.B-c_d=E.f-G_h", "a.B-c_d=E.f-G_h"),
    ("k=" + "v" * 63, "k=" + "v" * 63),
    ("p" * 253 + "/" + "n" * 63, "p" * 253 + "/" + "n" * 63),
]

# (input, position of the problem, words the reason must contain)
REJECTS = [
    ("x=a||y=b", 2, "invalid label value"),
    ("x==a==b", 4, "found '=='"),
    ("!x=a", 2, "found '='"),
    ("x<a", 2, "must be an integer"),
    ("x>", 2, "must be an integer"),
    ("x>1.5", 2, "must be an integer"),
    ("x>-1", 2, "invalid label value"),  # an integer, but not a valid label value
    ("x>9223372036854775808", 2, "must be an integer"),  # beyond int64
    ("x,,y", 2, "identifier after ','"),
    (",x,y", 0, "expected: !, identifier"),
    ("x,", 2, "identifier after ','"),
    ("x nott in (y)", 2, "found 'nott'"),
    ("a in (xyz),", 11, "identifier after ','"),
    ("a in (xyz)b notin ()", 10, "found 'b'"),
    ("a in (xyz abc)", 10, "expected: ',' or ')'"),
    ("a notin(", 8, "found end of string"),
    ("a (", 2, "expected: in, notin"),
    ("(", 0, "expected: !, identifier"),
    (")", 0, "expected: !, identifier"),
    ("=a", 0, "expected: !, identifier"),
    ("x in a", 5, "expected: '('"),
    ("x in (,,)", 8, "found ')'"),
    ("x in (a,,)", 9, "found ')'"),
    ("x in (a", 7, "expected: ',' or ')'"),
    ("x in (a)(", 8, "expected: ',' or end of string"),
    ("x=(a)", 2, "expected: identifier"),
    ("x=a b", 4, "found 'b'"),
    ("!", 1, "expected: identifier"),
    ("!!x", 1, "expected: identifier"),
    ("!x in (a)", 3, "found 'in'"),
    ("x<=1", 2, "expected: identifier"),
    ("Bad Key", 4, "found 'Key'"),
    ("bad_key_=a", 0, "invalid label key"),
    ("-x", 0, "invalid label key"),
    ("a/b/c", 0, "invalid label key"),
    ("/x", 0, "prefix part must be non-empty"),
    ("x/", 0, "name part must be non-empty"),
    ("UPPER.com/x", 0, "prefix part"),
    ("k" * 64, 0, "must be no more than 63 characters"),
    ("p" * 254 + "/x", 0, "must be no more than 253 characters"),
    ("x=" + "v" * 64, 2, "must be no more than 63 characters"),
    ("x=-a", 2, "invalid label value"),
    ("x=a-", 2, "invalid label value"),
    ("x in (ok,-bad)", 9, "invalid label value"),
    ("x=caf\u00e9", 2, "invalid label value"),
    ("x\u00a0=a", 0, "invalid label key"),  # only ASCII whitespace separates tokens
    ("x\x00", 0, "invalid label key"),
]


@pytest.mark.parametrize(("text", "canonical"), PARSES)
def test_parse_accepts_and_prints_canonically(text: str, canonical: str) -> None:
    selector = parse_selector(text)
    assert str(selector) == canonical
    # The canonical form is itself a selector with the same meaning and form.
    assert parse_selector(canonical) == selector


@pytest.mark.parametrize(("text", "position", "reason"), REJECTS)
def test_parse_rejects_with_position_and_reason(text: str, position: int, reason: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    error = caught.value
    assert error.position == position, error
    assert reason in error.reason
    assert f"position {position}" in str(error)
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", []),
        (",", [Token.COMMA]),
        ("notin", [Token.NOT_IN]),
        ("in", [Token.IN]),
        ("=", [Token.EQUALS]),
        ("==", [Token.DOUBLE_EQUALS]),
        (">", [Token.GREATER_THAN]),
        ("<", [Token.LESS_THAN]),
        ("!", [Token.NOT]),
        ("!=", [Token.NOT_EQUALS]),
        ("(", [Token.OPEN_PAREN]),
        (")", [Token.CLOSE_PAREN]),
        ("~", [Token.IDENTIFIER]),  # non-special characters make identifiers
        ("||", [Token.IDENTIFIER]),
        ("===", [Token.DOUBLE_EQUALS, Token.EQUALS]),  # longest match first
        ("!==", [Token.NOT_EQUALS, Token.EQUALS]),
        ("<=", [Token.LESS_THAN, Token.EQUALS]),
        (
            "key in ( value )",
            [Token.IDENTIFIER, Token.IN, Token.OPEN_PAREN, Token.IDENTIFIER, Token.CLOSE_PAREN],
        ),
        ("!key", [Token.NOT, Token.IDENTIFIER]),
        (
            "x in (),y",
            [
                *(Token.IDENTIFIER, Token.IN, Token.OPEN_PAREN, Token.CLOSE_PAREN),
                *(Token.COMMA, Token.IDENTIFIER),
            ],
        ),
        (
            "== != (), = notin",
            [
                *(Token.DOUBLE_EQUALS, Token.NOT_EQUALS, Token.OPEN_PAREN, Token.CLOSE_PAREN),
                *(Token.COMMA, Token.EQUALS, Token.NOT_IN),
            ],
        ),
        ("key>2", [Token.IDENTIFIER, Token.GREATER_THAN, Token.IDENTIFIER]),
    ],
)
def test_lexer_sequences(text: str, tokens: list[Token]) -> None:
    lexemes = tokenize(text)
    assert [lexeme.token for lexeme in lexemes] == [*tokens, Token.END]
    assert lexemes[-1].position == len(text)


def test_lexer_positions() -> None:
    assert [(lx.literal, lx.position) for lx in tokenize(" ab  in (c)")] == [
        ("ab", 1),
        ("in", 5),
        ("(", 8),
        ("c", 9),
        (")", 10),
        ("", 11),
    ]


# (selector, labels, matches)
MATCHES = [
    ("", {"x": "y"}, True),
    ("", {}, True),
    ("x=y", {"x": "y"}, True),
    ("x==y", {"x": "y"}, True),
    ("x=y,z=w", {"x": "y", "z": "w"}, True),
    ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
    ("notin=in", {"notin": "in"}, True),
    ("x", {"x": "z"}, True),
    ("x", {"x": ""}, True),
    ("!x", {"y": "z"}, True),
    ("x>1", {"x": "2"}, True),
    ("x<1", {"x": "0"}, True),
    ("x>1", {"x": "02"}, True),
    ("x=z", {}, False),
    ("x=y", {"x": "z"}, False),
    ("x=y,z=w", {"x": "w", "z": "w"}, False),
    ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
    ("x", {"y": "z"}, False),
    ("!x", {"x": "z"}, False),
    ("!x", {"x": ""}, False),
    ("x>1", {"x": "0"}, False),
    ("x>1", {"x": "1"}, False),
    ("x<1", {"x": "2"}, False),
    ("x>1", {}, False),  # gt/lt need the key
    ("x<1", {}, False),
    ("x>1", {"x": "v2"}, False),  # ... and an integer value
    ("x>1", {"x": "99999999999999999999"}, False),  # beyond int64: not an integer
    # "!=" and "notin" also match objects without the key
    ("x!=a", {}, True),
    ("x notin (a)", {}, True),
    ("x notin (a)", {"x": "a"}, False),
    ("x notin (a)", {"x": "b"}, True),
    ("x in (a,b)", {"x": "b"}, True),
    ("x in (a,b)", {"x": "c"}, False),
    ("x in (a,b)", {}, False),
    # the empty value
    ("x in ()", {"x": ""}, True),
    ("x in ()", {"x": "a"}, False),
    ("x in ()", {}, False),
    ("x notin ()", {"x": ""}, False),
    ("x notin ()", {}, True),
    ("x=", {"x": ""}, True),
    ("x=", {}, False),
    ("x in (,a)", {"x": ""}, True),
    ("x in (,a)", {"x": "a"}, True),
    ("y,x notin ()", {"y": ""}, True),
    ("y,!x", {"y": ""}, True),
    ("!y,x notin ()", {"y": ""}, False),
    # the example from the module docs
    ("env=prod, tier in (gold,silver), !canary", {"env": "prod", "tier": "gold"}, True),
    ("env=prod, tier in (gold,silver), !canary", {"env": "prod", "tier": "iron"}, False),
    (
        "env=prod, tier in (gold,silver), !canary",
        {"env": "prod", "tier": "gold", "canary": ""},
        False,
    ),
    ("foo=bar,foobar=bar,baz=blah", {"foo": "bar", "baz": "blah"}, False),
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCHES)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


def test_empty_selector_is_empty() -> None:
    assert parse_selector("").empty
    assert not parse_selector("x").empty


# Requirement constructor rules (Kubernetes' NewRequirement).
REQUIREMENTS = [
    ("x1", Operator.IN, [], "values"),
    ("x2", Operator.NOT_IN, [], "values"),
    ("x3", Operator.IN, ["foo"], None),
    ("x4", Operator.NOT_IN, ["foo"], None),
    ("x5", Operator.EQUALS, ["foo", "bar"], "values"),
    ("x6", Operator.EXISTS, [], None),
    ("x7", Operator.DOES_NOT_EXIST, [], None),
    ("x8", Operator.EXISTS, ["foo"], "values"),
    ("x9", Operator.IN, ["bar"], None),
    ("x11", Operator.GREATER_THAN, ["1"], None),
    ("x12", Operator.LESS_THAN, ["6"], None),
    ("x13", Operator.GREATER_THAN, [], "values"),
    ("x14", Operator.GREATER_THAN, ["bar"], "values[0]"),
    ("x15", Operator.LESS_THAN, ["bar"], "values[0]"),
    ("a" * 254, Operator.EXISTS, [], "key"),
    ("x16", Operator.EQUALS, ["a" * 254], "values[0]"),
    ("x17", Operator.EQUALS, ["a b"], "values[0]"),
    ("x18", Operator.IN, ["ok", "not ok"], "values[1]"),
]


@pytest.mark.parametrize(("key", "operator", "values", "bad_field"), REQUIREMENTS)
def test_requirement_constructor(
    key: str, operator: Operator, values: list[str], bad_field: str | None
) -> None:
    from mesh_registry.selector.requirement import RequirementError

    if bad_field is None:
        requirement = Requirement.create(key, operator, values)
        assert requirement.values == frozenset(values)
    else:
        with pytest.raises(RequirementError) as caught:
            Requirement.create(key, operator, values)
        assert caught.value.field == bad_field


@pytest.mark.parametrize(
    ("labels", "canonical"),
    [({}, ""), ({"app": "foo"}, "app=foo"), ({"app": "foo", "a": "b"}, "a=b,app=foo")],
)
def test_selector_from_labels(labels: dict[str, str], canonical: str) -> None:
    selector = selector_from_labels(labels)
    assert str(selector) == canonical
    assert selector.matches(labels)


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ({"Key": "v" * 64}, "matchLabels['Key']"),
        ({"bad key": "v"}, "matchLabels['bad key']"),
    ],
)
def test_selector_from_labels_validates(labels: dict[str, str], field: str) -> None:
    with pytest.raises(SelectorError) as caught:
        selector_from_labels(labels)
    assert caught.value.field == field
    assert caught.value.position is None


STRUCTURED = [
    ({}, ""),
    ({"matchLabels": {"a": "b"}}, "a=b"),
    (
        {
            "matchLabels": {"env": "prod"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["gold", "silver"]},
                {"key": "zone", "operator": "NotIn", "values": ["x"]},
                {"key": "gpu", "operator": "Exists"},
                {"key": "canary", "operator": "DoesNotExist", "values": []},
            ],
        },
        "!canary,env=prod,gpu,tier in (gold,silver),zone notin (x)",
    ),
]


@pytest.mark.parametrize(("form", "canonical"), STRUCTURED)
def test_selector_from_label_selector(form: dict, canonical: str) -> None:
    selector = selector_from_label_selector(form)
    assert str(selector) == canonical
    assert selector == parse_selector(canonical)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, "operator"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "values"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "values"),
        ({"matchExpressions": [{"key": "a b", "operator": "Exists"}]}, "key"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}, "values"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["-x"]}]}, "values[0]"),
        ({"matchExpressions": ["a=b"]}, "matchExpressions[0]"),
        ({"matchExpressions": [{"key": 1, "operator": "Exists"}]}, "key"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "x": 1}]}, "matchExpressions[0]"),
        ({"matchLabels": {"a": 1}}, "matchLabels"),
        ({"matchLabels": [], "other": 1}, "labelSelector"),
    ],
)
def test_selector_from_label_selector_rejects(form: dict, field: str) -> None:
    with pytest.raises(SelectorError) as caught:
        selector_from_label_selector(form)
    assert caught.value.field is not None
    assert caught.value.field.endswith(field)


SELECTOR_ALPHABET = string.ascii_letters + string.digits + " \t\n\r=!(),<>-_./|~\u00e9\x00"


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=SELECTOR_ALPHABET, max_size=40))
def test_fuzz_parse_raises_only_selector_error(text: str) -> None:
    try:
        selector = parse_selector(text)
    except SelectorError as error:
        failure: SelectorError | None = error
    else:
        failure = None
        # Whatever parses has a canonical form that parses back to the same selector.
        assert parse_selector(str(selector)) == selector
    if failure is not None:
        assert failure.position is not None
        assert 0 <= failure.position <= len(text)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_any_unicode(text: str) -> None:
    try:
        parse_selector(text)
    except SelectorError:
        pass


label_keys = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)
label_values = st.from_regex(r"([a-z0-9]{1,5})?", fullmatch=True)


@settings(max_examples=500, deadline=None)
@given(
    st.dictionaries(label_keys, label_values, max_size=5),
    st.dictionaries(label_keys, label_values, max_size=5),
)
def test_fuzz_match_labels_semantics(wanted: dict[str, str], labels: dict[str, str]) -> None:
    expected = all(labels.get(k) == v for k, v in wanted.items())
    assert selector_from_labels(wanted).matches(labels) is expected


@pytest.mark.parametrize(("distinct", "kept"), [(256, 256), (257, 256)], ids=["at", "one past"])
def test_parsed_selectors_are_kept_up_to_their_bound(distinct: int, kept: int) -> None:
    selector_module._parsed.cache_clear()
    texts = [f"k{i}=v" for i in range(distinct)]
    first = [parse_selector(text) for text in texts]
    assert selector_module._parsed.cache_info().currsize == kept
    assert [parse_selector(text) for text in texts] == first  # equal, kept or parsed again
    with pytest.raises(SelectorError):
        parse_selector("k in (")  # errors are never kept
    assert selector_module._parsed.cache_info().currsize == kept
