"""The watch cache's inverted index: which objects hold each capability and each label.

An entry (a capability name, or a label as a ``(key, value)`` pair) that few objects hold has
the set of their keys. Intersecting sets costs a probe into the larger for each key of the
smaller, at a random place in memory: at 100k agents, 4k probes into a label's 33k-key set
were most of a discovery's time. So an entry that many objects hold (a dense one) is a bitmap
instead, whose bit ``i`` is set when the object in slot ``i`` holds the entry: a write sets or
clears one bit of a ``bytearray``, and a query turns the bitmaps it needs into ``int`` to AND
and OR them a machine word at a time, then reads the few keys left from the bits. A bitmap
costs ``slots / 8`` bytes, less than a set of more than about ``slots / 300`` keys.

An entry turns dense when ``max(dense_min, slots / dense_share)`` objects hold it, and sparse
again when fewer than half as many do. Each object holds a few entries (``E``), so at most
``E * dense_share`` entries are dense: the bitmaps take at most ``E * dense_share / 8`` bytes
per object (40 with five entries and the default share), twice that with the ints queries keep.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from collections.abc import Set as AbstractSet

from mesh_registry.model import ObjectKey

Entry = Hashable  # a capability name (str), or a label as a (key, value) tuple
DENSE_MIN = 512
DENSE_SHARE = 64
_NONZERO_BYTE = re.compile(rb"[^\x00]")
_MARK_NONZERO = bytes([0] + [1] * 255)  # a translation table: 1 for every byte but zero
# The set bits of each byte value, as bit offsets.
_BITS_OF = tuple(tuple(bit for bit in range(8) if value >> bit & 1) for value in range(256))
_NOBODY: frozenset[ObjectKey] = frozenset()


class Postings:
    """Entries to the keys that hold them: sets for sparse entries, bitmaps for dense ones."""

    def __init__(self, dense_min: int = DENSE_MIN, dense_share: int = DENSE_SHARE) -> None:
        self._dense_min = dense_min
        self._dense_share = dense_share
        self._sets: dict[Entry, set[ObjectKey]] = {}  # sparse entries
        # Dense entries: bit i of byte i // 8 (lowest first) for slot i. Mutable, so that a
        # write sets or clears one bit instead of copying an int of slots / 8 bytes.
        self._bitmaps: dict[Entry, bytearray] = {}
        # The same as ints, made when a query needs them and dropped when the entry changes:
        # between writes, queries find them ready.
        self._ints: dict[Entry, int] = {}
        self._counts: dict[Entry, int] = {}  # dense entries: how many keys hold each
        self._slots: dict[ObjectKey, int] = {}
        self._key_at: list[ObjectKey | None] = []  # by slot; None: free
        self._free: list[int] = []

    def clear(self) -> None:
        for held in (self._sets, self._bitmaps, self._ints, self._counts, self._slots):
            held.clear()
        self._key_at.clear()
        self._free.clear()

    def add(self, key: ObjectKey, entries: Iterable[Entry]) -> None:
        """``key`` holds ``entries``; it held none of them before."""
        slot = self._slot(key)
        dense_at = self._dense_at()
        for entry in dict.fromkeys(entries):
            bitmap = self._bitmaps.get(entry)
            if bitmap is not None:
                _set_bit(bitmap, slot)
                self._ints.pop(entry, None)
                self._counts[entry] += 1
                continue
            holders = self._sets.setdefault(entry, set())
            holders.add(key)
            if len(holders) >= dense_at:
                self._bitmaps[entry] = self._bytes_of(holders)
                self._counts[entry] = len(holders)
                del self._sets[entry]

    def remove(self, key: ObjectKey, entries: Iterable[Entry]) -> None:
        """``key`` holds none of ``entries`` any more: every entry it was added with."""
        slot = self._slots.pop(key, None)
        if slot is None:
            return
        self._key_at[slot] = None
        self._free.append(slot)
        sparse_below = self._dense_at() // 2
        for entry in dict.fromkeys(entries):
            bitmap = self._bitmaps.get(entry)
            if bitmap is None:
                holders = self._sets.get(entry)
                if holders is not None:
                    holders.discard(key)
                    if not holders:
                        del self._sets[entry]
                continue
            _clear_bit(bitmap, slot)
            self._ints.pop(entry, None)
            count = self._counts[entry] - 1
            if count >= sparse_below:
                self._counts[entry] = count
                continue
            del self._bitmaps[entry], self._counts[entry]
            if count:
                self._sets[entry] = set(self._keys_of(_as_int(bitmap)))

    def holders(self, entry: Entry) -> Collection[ObjectKey]:
        """The keys that hold ``entry``, each once (read it, never change it)."""
        if entry in self._bitmaps:
            return self._keys_of(self._int_of(entry))
        return self._sets.get(entry, _NOBODY)

    def count(self, entries: Iterable[Entry]) -> int:
        """How many keys hold any of ``entries``, at most (a key holding two counts twice)."""
        counts, sets = self._counts, self._sets
        return sum(counts[e] if e in counts else len(sets.get(e, ())) for e in entries)

    @property
    def dense_entries(self) -> int:
        """How many entries are bitmaps."""
        return len(self._bitmaps)

    def keys_in_all(self, constraints: Sequence[Sequence[Entry]]) -> Collection[ObjectKey]:
        """The keys that hold at least one entry of every constraint (each a non-empty list
        of entries), each once, in no order. The result may be the index's own set: read it,
        never change it."""
        bits, sparse = self._split(constraints)
        if bits is None:
            return _intersected(sparse)
        if not sparse:
            return self._keys_of(bits)
        if min(_total(sets) for sets in sparse) < bits.bit_count():
            # Few keys pass the sparse constraints: test their bits.
            data, slots = _bytes(bits), self._slots
            # _bit_test's test, written out: a call per key cost 7% of a discovery whose
            # capability few agents hold (callgrind).
            return {
                key
                for key in _intersected(sparse)
                if (at := (slot := slots[key]) >> 3) < len(data) and data[at] >> (slot & 7) & 1
            }
        return _intersected([[set(self._keys_of(bits))], *sparse])

    def holds_all(self, constraints: Sequence[Sequence[Entry]]) -> Callable[[ObjectKey], bool]:
        """A test of one key: whether :meth:`keys_in_all` holds it. For a scan in key order
        that stops early, where asking the index costs less than testing the object."""
        bits, sparse = self._split(constraints)
        has_bit = None if bits is None else self._bit_test(bits)
        # A constraint of several sparse entries as one set: one probe per key.
        sets = [held[0] if len(held) == 1 else frozenset().union(*held) for held in sparse]

        def holds(key: ObjectKey) -> bool:
            for held in sets:
                if key not in held:
                    return False
            return has_bit is None or has_bit(key)

        return holds

    # -- internals -------------------------------------------------------------------------

    def _split(
        self, constraints: Sequence[Sequence[Entry]]
    ) -> tuple[int | None, list[list[AbstractSet[ObjectKey]]]]:
        """The constraints with a dense entry, as one bitmap (ANDed; ``None``: there are none),
        and the others, as the sets of their entries."""
        bits: int | None = None
        sparse: list[list[AbstractSet[ObjectKey]]] = []
        for constraint in constraints:
            if not any(entry in self._bitmaps for entry in constraint):
                sparse.append([self._sets.get(entry, _NOBODY) for entry in constraint])
                continue
            any_of = self._any_of(constraint)
            bits = any_of if bits is None else bits & any_of
        return bits, sparse

    def _bit_test(self, bits: int) -> Callable[[ObjectKey], bool]:
        """A test of one key: whether its slot's bit is set in ``bits`` (a key the index does
        not know has none)."""
        data, slots = _bytes(bits), self._slots

        def has_bit(key: ObjectKey) -> bool:
            slot = slots.get(key)
            if slot is None or (at := slot >> 3) >= len(data):
                return False
            return bool(data[at] >> (slot & 7) & 1)

        return has_bit

    def _dense_at(self) -> int:
        return max(self._dense_min, len(self._key_at) // self._dense_share)

    def _slot(self, key: ObjectKey) -> int:
        slot = self._slots.get(key)
        if slot is None:
            if self._free:
                slot = self._free.pop()
                self._key_at[slot] = key
            else:
                slot = len(self._key_at)
                self._key_at.append(key)
            self._slots[key] = slot
        return slot

    def _any_of(self, constraint: Sequence[Entry]) -> int:
        """The bitmap of the keys holding any of ``constraint``'s entries, dense or not."""
        bits = 0
        for entry in constraint:
            if entry in self._bitmaps:
                bits |= self._int_of(entry)
            else:
                bits |= _as_int(self._bytes_of(self._sets.get(entry, ())))
        return bits

    def _int_of(self, entry: Entry) -> int:
        """A dense entry's bitmap as an int."""
        bits = self._ints.get(entry)
        if bits is None:
            bits = self._ints[entry] = _as_int(self._bitmaps[entry])
        return bits

    def _bytes_of(self, keys: Iterable[ObjectKey]) -> bytearray:
        bitmap = bytearray(len(self._key_at) // 8 + 1)
        for key in keys:
            _set_bit(bitmap, self._slots[key])
        return bitmap

    def _keys_of(self, bits: int) -> list[ObjectKey]:
        key_at = self._key_at
        return [key for slot in _set_bits(bits) if (key := key_at[slot]) is not None]


def _intersected(constraints: list[list[AbstractSet[ObjectKey]]]) -> AbstractSet[ObjectKey]:
    """The keys in at least one set of every constraint."""
    # Intersections iterate the smaller set: from the smallest constraint on, what is found
    # only shrinks.
    constraints.sort(key=_total)
    first, *rest = constraints
    found = first[0] if len(first) == 1 else frozenset().union(*first)
    for sets in rest:
        if len(sets) == 1:
            found = found & sets[0]
        else:
            found = frozenset().union(*(found & holders for holders in sets))
    return found


def _total(sets: list[AbstractSet[ObjectKey]]) -> int:
    return sum(map(len, sets))


def _set_bit(bitmap: bytearray, slot: int) -> None:
    at = slot >> 3
    if at >= len(bitmap):  # a slot newer than the bitmap
        bitmap.extend(bytes(at + 1 - len(bitmap)))
    bitmap[at] |= 1 << (slot & 7)


def _clear_bit(bitmap: bytearray, slot: int) -> None:
    at = slot >> 3
    if at < len(bitmap):
        bitmap[at] &= ~(1 << (slot & 7))


def _as_int(bitmap: bytearray) -> int:
    """The bitmap as an int, to AND and OR it a machine word at a time."""
    return int.from_bytes(bitmap, "little")


def _bytes(bits: int) -> bytes:
    return bits.to_bytes((bits.bit_length() + 7) // 8, "little")


def _set_bits(bits: int) -> list[int]:
    """The offsets of the bits set in ``bits`` (not negative), lowest first."""
    data = _bytes(bits)
    offsets: list[int] = []
    for at in _nonzero_bytes(data, bits.bit_count()):
        base = at * 8
        for bit in _BITS_OF[data[at]]:
            offsets.append(base + bit)
    return offsets


def _nonzero_bytes(data: bytes, ones: int) -> list[int]:
    """The offsets of the bytes of ``data`` that are not zero (``ones`` bits are set)."""
    if ones * 2 >= len(data):
        # Most bytes hold a bit: the regular expression steps from one to the next in C.
        return [match.start() for match in _NONZERO_BYTE.finditer(data)]
    # Few of them, far apart (a narrow query at 100k agents: 12.5 kB for a hundred bits), where
    # the regular expression tests every byte in turn: marked as 1 in one pass, then found by
    # `find` (memchr) from one to the next, 2-5x faster.
    marks = data.translate(_MARK_NONZERO)
    offsets = []
    at = marks.find(1)
    while at != -1:
        offsets.append(at)
        at = marks.find(1, at + 1)
    return offsets
