"""Principals, roles and the tokens file: pure, table-driven."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mesh_registry.auth import ANONYMOUS, Authenticator, Principal, Role, TokenTable
from mesh_registry.auth.tokens import digest

READER_A = Principal("r", {"a": Role.READER})
AGENT_A_READER_B = Principal("ab", {"a": Role.AGENT, "b": Role.READER})
ADMIN_ALL = Principal("root", {"*": Role.ADMIN})
READER_ALL_AGENT_A = Principal("mixed", {"*": Role.READER, "a": Role.AGENT})
ADMIN_ALL_READER_A = Principal("mixed the other way", {"*": Role.ADMIN, "a": Role.READER})


@pytest.mark.parametrize(
    ("principal", "role", "namespace", "allowed"),
    [
        (READER_A, Role.READER, "a", True),
        (READER_A, Role.AGENT, "a", False),
        (READER_A, Role.READER, "b", False),
        (AGENT_A_READER_B, Role.READER, "a", True),  # roles include the ones below
        (AGENT_A_READER_B, Role.AGENT, "a", True),
        (AGENT_A_READER_B, Role.ADMIN, "a", False),
        (AGENT_A_READER_B, Role.READER, "b", True),
        (AGENT_A_READER_B, Role.AGENT, "b", False),
        (AGENT_A_READER_B, Role.READER, "c", False),
        (ADMIN_ALL, Role.ADMIN, "anything", True),
        # The stronger of the namespace's role and the "*" role counts.
        (READER_ALL_AGENT_A, Role.AGENT, "a", True),
        (READER_ALL_AGENT_A, Role.AGENT, "b", False),
        (READER_ALL_AGENT_A, Role.READER, "z", True),
        (ADMIN_ALL_READER_A, Role.ADMIN, "a", True),
        (ADMIN_ALL_READER_A, Role.ADMIN, "z", True),
        (ANONYMOUS, Role.ADMIN, "any", True),
    ],
)
def test_roles(principal: Principal, role: Role, namespace: str, allowed: bool) -> None:
    assert principal.may(role, namespace) is allowed


@pytest.mark.parametrize(
    ("principal", "readable"),
    [
        (READER_A, frozenset({"a"})),
        (AGENT_A_READER_B, frozenset({"a", "b"})),
        (ADMIN_ALL, None),
        (READER_ALL_AGENT_A, None),
    ],
)
def test_readable_namespaces(principal: Principal, readable: frozenset[str] | None) -> None:
    assert principal.readable_namespaces() == readable


@pytest.mark.parametrize(
    ("patterns", "capability", "allowed"),
    [
        (None, "payments.charge", True),
        (("weather.*",), "weather.forecast", True),
        (("weather.*",), "weather", False),
        (("weather.*",), "payments.charge", False),
        (("weather.*", "date.today"), "date.today", True),
        (("date.today",), "date.todays", False),
        (("*",), "anything.at.all", True),
        ((), "weather.forecast", False),  # an empty list claims nothing
        (("Weather.*",), "weather.forecast", False),  # case matters
    ],
)
def test_capability_claims(
    patterns: tuple[str, ...] | None, capability: str, allowed: bool
) -> None:
    principal = Principal("s", {"a": Role.AGENT}, patterns)
    assert principal.may_claim(capability) is allowed


def test_ownership_needs_an_authenticated_subject() -> None:
    assert Principal("s").owns("s")
    assert not Principal("s").owns("t")
    assert not Principal("s").owns(None)
    assert not ANONYMOUS.owns(ANONYMOUS.subject)


SECRET = "s3cret-s3cret-s3cret"


def entry(**fields: Any) -> dict[str, Any]:
    return {"subject": "svc", "token": SECRET, "namespaces": {"default": "agent"}, **fields}


def test_a_token_authenticates_as_its_principal() -> None:
    table = TokenTable.parse(
        {
            "tokens": [
                entry(capabilities=["weather.*"]),
                entry(subject="ro", token="x" * 16, namespaces={"*": "reader"}),
            ]
        }
    )
    principal = table.principal(SECRET)
    assert principal is not None
    assert (principal.subject, dict(principal.roles), principal.capabilities) == (
        "svc",
        {"default": Role.AGENT},
        ("weather.*",),
    )
    assert SECRET not in repr(principal)  # only a digest prefix identifies the token
    assert table.principal("x" * 16).subject == "ro"  # type: ignore[union-attr]
    assert table.principal("not a token at all") is None
    assert table.principal(SECRET + " ") is None


def test_a_file_may_hold_digests_instead_of_tokens() -> None:
    table = TokenTable.parse({"tokens": [entry(token=None, sha256=digest(SECRET).upper())]})
    assert table.principal(SECRET) is not None


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (
            {"tokens": [entry(token=None)]},
            "tokens.0: Value error, give exactly one of token and sha256",
        ),
        ({"tokens": [entry(sha256="ab" * 32)]}, "exactly one of token and sha256"),
        ({"tokens": [entry(token="short")]}, "tokens.0.token"),
        ({"tokens": [entry(sha256="xyz")]}, "tokens.0.sha256"),
        ({"tokens": [entry(namespaces={})]}, "tokens.0.namespaces"),
        ({"tokens": [entry(namespaces={"Bad_NS": "agent"})]}, "invalid namespace 'Bad_NS'"),
        ({"tokens": [entry(namespaces={"a": "root"})]}, "unknown role 'root'"),
        ({"tokens": [entry(subject="")]}, "tokens.0.subject"),
        ({"tokens": [entry(colour="red")]}, "tokens.0.colour"),
        ({"tokens": [entry(), entry(subject="twin")]}, "listed twice"),
        ({"tokenz": []}, "tokens"),
        (None, "tokens file"),
        ([], "tokens file"),
    ],
)
def test_a_bad_tokens_file_is_refused_naming_the_field(document: Any, words: str) -> None:
    with pytest.raises(ValueError, match="tokens") as caught:
        TokenTable.parse(document)
    assert words in str(caught.value)
    assert SECRET not in str(caught.value)


def test_the_authenticator_reloads_and_keeps_the_old_table_on_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(f"tokens:\n  - {{subject: a, token: {SECRET}, namespaces: {{x: reader}}}}\n")
    authenticator = Authenticator(path)
    first = authenticator.authenticate(SECRET)
    assert first is not None
    assert authenticator.still_valid(first)

    path.write_text("tokens: [")  # broken: the previous tokens stay in force
    assert not authenticator.reload()
    assert authenticator.authenticate(SECRET) == first

    # JSON is YAML too. A new token works; the old one is revoked, and so are its principals.
    path.write_text(
        '{"tokens": [{"subject": "b", "token": "%s", "namespaces": {"x": "agent"}}]}' % ("n" * 20)
    )
    assert authenticator.reload()
    assert authenticator.authenticate(SECRET) is None
    assert not authenticator.still_valid(first)
    assert authenticator.authenticate("n" * 20).subject == "b"  # type: ignore[union-attr]
    assert authenticator.still_valid(ANONYMOUS)


def test_an_unreadable_tokens_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"tokens file .*absent\.yaml"):
        Authenticator(tmp_path / "absent.yaml")
