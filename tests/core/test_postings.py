"""The inverted index answers what its sets say, whether it reads bitmaps or sets."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_registry.model import ObjectKey
from mesh_registry.postings import Entry, Postings, _set_bits

ENTRIES: list[Entry] = ["a.x", "b.y", "c.z", ("env", "prod"), ("env", "dev"), ("zone", "1")]


def naive(held: dict[ObjectKey, set[Entry]], constraints: list[list[Entry]]) -> set[ObjectKey]:
    return {
        key
        for key, entries in held.items()
        if all(any(entry in entries for entry in constraint) for constraint in constraints)
    }


@pytest.mark.parametrize(
    ("bits", "offsets"),
    [
        (0, []),
        (1, [0]),
        (0b1010_0001, [0, 5, 7]),
        (1 << 8, [8]),
        ((1 << 100_000) | (1 << 64) | 3, [0, 1, 64, 100_000]),
        (2**4096 - 1, list(range(4096))),
        (sum(1 << i for i in range(0, 100_000, 997)), list(range(0, 100_000, 997))),
        (sum(1 << i for i in range(3, 4096, 9)), list(range(3, 4096, 9))),
        (
            sum(0xFF << i for i in range(0, 8000, 1000)),
            [i + b for i in range(0, 8000, 1000) for b in range(8)],
        ),
    ],
    ids=[
        "none",
        "bit 0",
        "one byte",
        "second byte",
        "far apart",
        "all of 4096",
        "sparse over 100k",
        "dense, one in nine",
        "whole bytes, sparse",
    ],
)
def test_set_bits(bits: int, offsets: list[int]) -> None:
    """Sparse and dense: the two ways of finding the bytes that hold bits."""
    assert list(_set_bits(bits)) == offsets


def fill(postings: Postings, count: int) -> dict[ObjectKey, set[Entry]]:
    held = {}
    for i in range(count):
        key = ObjectKey("default", f"agent-{i:03}")
        entries = {"a.x", ("env", "prod" if i % 3 else "dev")} | ({"b.y"} if i % 2 else set())
        postings.add(key, entries)
        held[key] = entries
    return held


CONSTRAINTS = [
    [["a.x"]],
    [["a.x"], [("env", "prod")]],
    [["b.y"], [("env", "prod"), ("env", "dev")]],
    [["a.x"], ["b.y"], [("env", "dev")]],
    [["c.z"], ["a.x"]],  # nobody holds c.z
    [[("zone", "1")]],
]


@pytest.mark.parametrize("constraints", CONSTRAINTS, ids=str)
@pytest.mark.parametrize("dense_min", [1, 10**9], ids=["bitmaps", "sets"])
def test_answers_equal_the_sets(constraints: list[list[Entry]], dense_min: int) -> None:
    postings = Postings(dense_min=dense_min, dense_share=10**9)
    held = fill(postings, 40)
    assert (postings.dense_entries > 0) == (dense_min == 1)
    assert set(postings.keys_in_all(constraints)) == naive(held, constraints)
    assert_tests_agree(postings, held, constraints)


def assert_tests_agree(
    postings: Postings, held: dict[ObjectKey, set[Entry]], constraints: list[list[Entry]]
) -> None:
    """A key at a time (``holds_all``), the index says what it says of all keys at once."""
    holds = postings.holds_all(constraints)
    expected = naive(held, constraints)
    for key in [*held, ObjectKey("nowhere", "never-added")]:
        assert holds(key) == (key in expected), key


def test_bitmaps_come_with_many_holders_and_go_with_few() -> None:
    postings = Postings(dense_min=4, dense_share=10**9)
    keys = [ObjectKey("ns", f"k{i}") for i in range(6)]
    for key in keys[:3]:
        postings.add(key, ["a.x"])
    assert postings.dense_entries == 0
    postings.add(keys[3], ["a.x"])
    assert postings.dense_entries == 1
    for key in keys[:2]:  # 2 holders left: not below half of 4 yet
        postings.remove(key, ["a.x"])
    assert postings.dense_entries == 1
    postings.remove(keys[2], ["a.x"])
    assert postings.dense_entries == 0
    assert set(postings.holders("a.x")) == {keys[3]}
    postings.remove(keys[3], ["a.x"])
    assert set(postings.holders("a.x")) == set()


def test_freed_slots_are_reused_without_their_old_bits() -> None:
    postings = Postings(dense_min=1, dense_share=10**9)
    held = fill(postings, 30)
    for key in list(held)[::2]:
        postings.remove(key, held.pop(key))
    for i in range(10):  # take the freed slots, with other entries
        key = ObjectKey("other", f"n{i}")
        postings.add(key, ["c.z"])
        held[key] = {"c.z"}
    for constraints in [*CONSTRAINTS, [["c.z"], ["c.z"]]]:
        assert set(postings.keys_in_all(constraints)) == naive(held, constraints)
        assert_tests_agree(postings, held, constraints)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), dense_min=st.sampled_from([1, 3, 8, 10**9]))
def test_any_history_of_changes_answers_as_the_sets_do(seed: int, dense_min: int) -> None:
    rng = random.Random(seed)
    postings = Postings(dense_min=dense_min, dense_share=rng.choice([2, 8, 10**9]))
    held: dict[ObjectKey, set[Entry]] = {}
    for _ in range(200):
        key = ObjectKey(rng.choice(["a", "b"]), f"n{rng.randrange(40)}")
        if key in held:  # a change: remove what it held, then add what it holds now
            postings.remove(key, held.pop(key))
        if rng.random() < 0.8:
            entries = set(rng.sample(ENTRIES, rng.randint(0, 4)))
            postings.add(key, entries)
            held[key] = entries
        constraints = [rng.sample(ENTRIES, rng.randint(1, 2)) for _ in range(rng.randint(1, 3))]
        assert set(postings.keys_in_all(constraints)) == naive(held, constraints)
        assert_tests_agree(postings, held, constraints)
        for entry in ENTRIES:
            assert set(postings.holders(entry)) == {k for k, e in held.items() if entry in e}
