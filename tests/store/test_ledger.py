"""The checker itself: it must find every kind of loss and disorder it exists to find."""

from __future__ import annotations

import pytest

from tests.store.ledger import Ledger, StreamLog


def ledger(*writes: tuple[str, int, bool], in_flight: tuple[str, ...] = ()) -> Ledger:
    book = Ledger()
    for key, revision, deleted in writes:
        book.acknowledged(key, revision, deleted=deleted)
    for key in in_flight:
        book.sent(key)
    return book


@pytest.mark.parametrize(
    ("book", "stored", "problem"),
    [
        (ledger(("a", 3, False)), {"a": 3}, None),
        (ledger(("a", 3, False)), {}, "a: acknowledged at 3, lost"),
        (ledger(("a", 3, False)), {"a": 2}, "a: acknowledged at 3, stored 2"),
        (ledger(("a", 3, False)), {"a": 5}, "a: stored 5, newer than any write that was sent"),
        (ledger(("a", 3, True)), {"a": 2}, "a: deleted at 3, still there"),
        (ledger(("a", 3, True)), {}, None),
        # A write in flight at the crash may or may not have committed.
        (ledger(("a", 3, False), in_flight=("a",)), {"a": 5}, None),
        (ledger(("a", 3, False), in_flight=("a",)), {"a": 3}, None),
        (ledger(("a", 3, False), in_flight=("a",)), {}, None),  # an in-flight delete
        (ledger(("a", 3, True), in_flight=("a",)), {"a": 7}, None),  # an in-flight re-create
        # ... but never undo an acknowledged one.
        (ledger(("a", 3, False), in_flight=("a",)), {"a": 2}, "a: acknowledged at 3, stored 2"),
        # Never acknowledged: nothing was promised.
        (ledger(in_flight=("a",)), {}, None),
        (ledger(in_flight=("a",)), {"a": 9}, None),
    ],
)
def test_the_ledger_finds_lost_and_invented_writes(
    book: Ledger, stored: dict[str, int], problem: str | None
) -> None:
    assert book.problems(stored) == ([problem] if problem else [])


@pytest.mark.parametrize(
    ("revisions", "final", "problems"),
    [
        ([1, 2, 3], 3, []),
        ([1, 2, 2, 3], 3, ["revision 2 after 2: out of order or repeated"]),
        (
            [1, 3, 2],
            3,
            [
                "revisions 2..2 missing",
                "revision 2 after 3: out of order or repeated",
                "the stream ends at 2, the registry at 3",
            ],
        ),
        ([1, 2, 5], 5, ["revisions 3..4 missing"]),
        ([2, 3], 3, ["the stream starts at 2, not 1"]),
        ([1, 2], 3, ["the stream ends at 2, the registry at 3"]),
        ([], 0, []),
        ([], 2, ["the stream ends at None, the registry at 2"]),
    ],
)
def test_the_stream_log_finds_gaps_repeats_and_disorder(
    revisions: list[int], final: int, problems: list[str]
) -> None:
    assert StreamLog(revisions).problems(final) == problems
