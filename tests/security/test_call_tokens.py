"""Call tokens: issued, verified, and refused when expired, altered or foreign."""

from __future__ import annotations

import jwt
import pytest

from mesh_registry.auth.calltokens import ISSUER, CallTokens

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_carries_its_caller_and_audience() -> None:
    clock = Clock()
    tokens = CallTokens(ttl=600, key=KEY, clock=clock)
    token, expires = tokens.issue("svc", "team-a/weather", "uid-1")
    assert expires == clock.now + 600
    claims = tokens.verify(token)
    assert claims is not None
    assert (claims.subject, claims.audience, claims.uid, claims.expires) == (
        "svc",
        "team-a/weather",
        "uid-1",
        expires,
    )


def forged(**claims: object) -> str:
    base = {"iss": ISSUER, "sub": "svc", "aud": "ns/a", "uid": "u", "exp": 1_800_000_600}
    return jwt.encode({**base, **claims}, KEY, algorithm="HS256")


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda t: t[:-3] + ("xyz" if not t.endswith("xyz") else "abc"), "altered signature"),
        (
            lambda t: jwt.encode(
                {"iss": ISSUER, "sub": "svc", "aud": "ns/a", "exp": 1_800_000_600},
                b"other" * 8,
                algorithm="HS256",
            ),
            "another key",
        ),
        (lambda t: forged(iss="someone-else"), "another issuer"),
        (lambda t: forged(exp=1_799_999_999), "expired"),
        (lambda t: forged(sub=5), "subject not a string"),
        (lambda t: forged(uid=5), "uid not a string"),
        (
            lambda t: jwt.encode(
                {"iss": ISSUER, "sub": "svc", "aud": "ns/a", "exp": 1_800_000_600},
                KEY,
                algorithm="HS256",
            ),
            "no uid: not bound to one agent",
        ),
        (
            lambda t: jwt.encode(
                {"iss": ISSUER, "aud": "ns/a", "exp": 1_800_000_600}, KEY, algorithm="HS256"
            ),
            "no subject",
        ),
        (
            lambda t: jwt.encode(
                {"iss": ISSUER, "sub": "svc", "aud": "ns/a", "exp": 1_800_000_600},
                KEY,
                algorithm="HS512",
            ),
            "another algorithm",
        ),
        (lambda t: "not.a.token", "garbage"),
        (lambda t: "", "empty"),
    ],
)
@pytest.mark.filterwarnings("ignore:The HMAC key is 32 bytes long")  # signing the HS512 forgery
def test_a_bad_token_is_refused(make, why: str) -> None:  # type: ignore[no-untyped-def]
    tokens = CallTokens(key=KEY, clock=Clock())
    good, _ = tokens.issue("svc", "ns/a", "u")
    assert tokens.verify(make(good)) is None, why


def test_a_token_expires_on_the_registrys_clock() -> None:
    clock = Clock()
    tokens = CallTokens(ttl=60, key=KEY, clock=clock)
    token, _ = tokens.issue("svc", "ns/a", "u")
    clock.now += 59
    assert tokens.verify(token) is not None
    clock.now += 1
    assert tokens.verify(token) is None


def test_tokens_of_another_registry_instance_are_refused() -> None:
    token, _ = CallTokens().issue("svc", "ns/a", "u")
    assert CallTokens().verify(token) is None  # each start makes a new key


def test_the_lifetime_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lifetime"):
        CallTokens(ttl=0)
