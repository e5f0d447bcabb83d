"""A transparency log of referral events: an RFC 9162 Merkle tree and C2SP signed-note checkpoints.

Leaf ``i`` is the exact bytes of the ``i``-th event; its hash is ``SHA-256(0x00 || bytes)`` and an interior
node is ``SHA-256(0x01 || left || right)`` (RFC 9162 section 2.1.1). The empty tree hashes to
``SHA-256("")``.

Storage invariant: the caller stores every *perfect* subtree hash, addressed ``(level, index)``: level 0
index ``i`` is leaf ``i``'s hash, and ``(L, k)`` is the hash of leaves ``[k * 2**L, (k + 1) * 2**L)``. Such
a node never changes once written, so the store is append-only. Every root and proof is built from
stored nodes only: the right edge of a tree that is not a power of two is hashed on the fly from its
perfect pieces. A :data:`NodeReader` returns one stored node; each ``*_nodes`` function names, before any
read, the O(log n) nodes the matching computation will ask for, so a database caller can fetch them in
one query and back the reader with a dict.

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step, with two cases outside the
RFC's ``0 < first < second`` made explicit: equal sizes are consistent with an empty proof and equal
roots; the empty tree is a prefix of every tree (empty proof, ``first_root == EMPTY_ROOT``).

Checkpoints are C2SP tlog-checkpoint bodies (origin, decimal size, base64 root, optional non-empty
extension lines) carried in C2SP signed notes with Ed25519 signatures (signature type ``0x01``). Parsing
is strict: canonical base64 only, no leading zeros, no control characters but newline, at most
:data:`MAX_NOTE_BYTES` bytes and :data:`MAX_SIGNATURES` signature lines. Signatures by other keys are
ignored, as the signed-note specification requires; every signature by the expected key must verify.

Errors (all :class:`NoteError`, a :class:`~rujukan.core.errors.RujukanError`; messages name keys and
sizes, never note text)::

    NoteError
    ├── MalformedNote    not a signed note, checkpoint body or key of the required form
    ├── UnverifiedNote   no signature by the expected key
    └── BadSignature     a signature by the expected key does not verify

No I/O here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from rujukan.core.errors import RujukanError

NodeReader = Callable[[int, int], bytes]
Node = tuple[int, int]
Range = tuple[int, int]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100
MAX_TREE_SIZE = (1 << 64) - 1
ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "

_sha256 = hashlib.sha256


class NoteError(RujukanError):
    """A signed note or checkpoint could not be opened."""


class MalformedNote(NoteError):
    """The text is not a signed note, checkpoint body or key of the form the specifications require."""


class UnverifiedNote(NoteError):
    """The note carries no signature by the expected key."""


class BadSignature(NoteError):
    """A signature by the expected key does not verify."""


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def _pieces(start: int, end: int) -> list[Node]:
    """The perfect subtrees, left to right, whose RFC 9162 combination is the hash of leaves [start, end)."""
    if not 0 <= start <= end:
        raise ValueError(f"bad leaf range [{start}, {end})")
    pieces: list[Node] = []
    offset = start
    for level in range((end - start).bit_length() - 1, -1, -1):
        if (end - start) >> level & 1:
            if offset % (1 << level):
                raise ValueError(f"leaf range [{start}, {end}) is not made of stored subtrees")
            pieces.append((level, offset >> level))
            offset += 1 << level
    return pieces


def _fold(hashes: Sequence[bytes]) -> bytes:
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def subtree_hash(start: int, end: int, get: NodeReader) -> bytes:
    """MTH of leaves [start, end), which must start on a multiple of its largest perfect piece."""
    return _fold([get(level, index) for level, index in _pieces(start, end)])


def root(size: int, get: NodeReader) -> bytes:
    """The RFC 9162 Merkle tree hash of the first ``size`` leaves."""
    return subtree_hash(0, size, get)


def root_nodes(size: int) -> list[Node]:
    """The nodes :func:`root` reads; also the right frontier :func:`appended` may read."""
    return _pieces(0, size)


def _check_hashes(leaf_hashes: Sequence[bytes]) -> None:
    if any(len(h) != HASH_SIZE for h in leaf_hashes):
        raise ValueError(f"leaf hashes are {HASH_SIZE} bytes (hash the leaf's bytes with leaf_hash first)")


def appended(size: int, leaf_hashes: Sequence[bytes], get: NodeReader) -> list[tuple[int, int, bytes]]:
    """The ``(level, index, hash)`` nodes to store when ``leaf_hashes`` follow a tree of ``size`` leaves.

    Level by level: the new nodes of a level start at index ``size >> level``; an odd start pairs with
    the one stored node on its left (a node of :func:`root_nodes`), the only read.
    """
    _check_hashes(leaf_hashes)
    stored: list[tuple[int, int, bytes]] = [(0, size + i, h) for i, h in enumerate(leaf_hashes)]
    level, start, row = 0, size, list(leaf_hashes)
    while row:
        if start % 2:
            row.insert(0, get(level, start - 1))
            start -= 1
        row = [_sha256(b"\x01" + left + right).digest() for left, right in zip(row[0::2], row[1::2], strict=False)]
        level, start = level + 1, start // 2
        stored.extend((level, start + i, h) for i, h in enumerate(row))
    return stored


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of leaf hashes held in memory, in O(n): pair each level, carrying an odd last node upward."""
    _check_hashes(leaf_hashes)
    row = list(leaf_hashes)
    if not row:
        return EMPTY_ROOT
    while len(row) > 1:
        paired = [_sha256(b"\x01" + left + right).digest() for left, right in zip(row[0::2], row[1::2], strict=False)]
        if len(row) % 2:
            paired.append(row[-1])
        row = paired
    return row[0]


def _inclusion_ranges(index: int, size: int) -> list[Range]:
    """The leaf ranges whose hashes form PATH(index, D[size]) (RFC 9162 2.1.3.1), bottom-up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    siblings: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            siblings.append((lo + k, hi))
            hi = lo + k
        else:
            siblings.append((lo, lo + k))
            lo += k
    return siblings[::-1]


def _consistency_ranges(first: int, second: int) -> list[Range]:
    """The leaf ranges whose hashes form PROOF(first, D[second]) (RFC 9162 2.1.4.1); none for 0 or equal."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first in (0, second):
        return []
    siblings: list[Range] = []
    lo, hi, whole = 0, second, True
    while first != hi:
        k = _split(hi - lo)
        if first <= lo + k:
            siblings.append((lo + k, hi))
            hi = lo + k
        else:
            siblings.append((lo, lo + k))
            lo, whole = lo + k, False
    if not whole:
        siblings.append((lo, hi))
    return siblings[::-1]


def _nodes_of(ranges: Sequence[Range]) -> list[Node]:
    return [node for start, end in ranges for node in _pieces(start, end)]


def inclusion_nodes(index: int, size: int) -> list[Node]:
    """The nodes :func:`inclusion_proof` reads (O(log n): only the rightmost sibling may be imperfect)."""
    return _nodes_of(_inclusion_ranges(index, size))


def consistency_nodes(first: int, second: int) -> list[Node]:
    """The nodes :func:`consistency_proof` reads."""
    return _nodes_of(_consistency_ranges(first, second))


def inclusion_proof(index: int, size: int, get: NodeReader) -> list[bytes]:
    return [subtree_hash(start, end, get) for start, end in _inclusion_ranges(index, size)]


def consistency_proof(first: int, second: int, get: NodeReader) -> list[bytes]:
    return [subtree_hash(start, end, get) for start, end in _consistency_ranges(first, second)]


def _hashes_ok(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size or not _hashes_ok(leaf_hash, root, *proof):
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2, plus the two trivial cases the module docstring names."""
    if not 0 <= first <= second or not _hashes_ok(first_root, second_root, *proof):
        return False
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = [first_root, *proof] if (first & (first - 1)) == 0 else list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


class MemoryNodes:
    """An in-memory node store (one list per level) for tests and replays; ``get`` is its NodeReader."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def get(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0:
            raise KeyError((level, index))
        try:
            return self._levels[level][index]
        except IndexError:
            raise KeyError((level, index)) from None

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        for level, _, h in appended(self.size, leaf_hashes, self.get):
            if level == len(self._levels):
                self._levels.append([])
            self._levels[level].append(h)

    def root(self) -> bytes:
        return root(self.size, self.get)


# --- Keys (C2SP signed-note, "Verifier keys"; the signer key text is Go's golang.org/x/mod/sumdb/note) ---


def _b64decode(text: str, what: str) -> bytes:
    """Canonical standard base64 only: the re-encoding must give back the same text."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise MalformedNote(f"{what}: not base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedNote(f"{what}: not canonical base64")
    return raw


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() or c < " " for c in name):
        raise MalformedNote("key name must be non-empty, without spaces, control characters or '+'")


def key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return _sha256(name.encode("utf-8") + b"\n" + ED25519 + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    _check_name(name)
    if len(public_key) != 32:
        raise MalformedNote("an Ed25519 public key is 32 bytes")
    encoded = base64.b64encode(ED25519 + public_key).decode("ascii")
    return f"{name}+{key_hash(name, public_key).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, bytes, bytes]:
    """``(name, key_hash, public_key)`` of an Ed25519 verifier key, every part checked."""
    parts = text.split("+", 2)
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        raise MalformedNote("malformed verifier key: want <name>+<8 lowercase hex digits>+<base64 key>")
    name, hash_hex, encoded = parts
    _check_name(name)
    raw = _b64decode(encoded, "malformed verifier key")
    if len(raw) != 33 or raw[:1] != ED25519:
        raise MalformedNote("malformed verifier key: not an Ed25519 (type 0x01) key")
    public_key = raw[1:]
    if key_hash(name, public_key).hex() != hash_hex:
        raise MalformedNote(f"malformed verifier key: key hash {hash_hex} does not match the name and key")
    return name, bytes.fromhex(hash_hex), public_key


def _public_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """``PRIVATE+KEY+<name>+<key hash>+base64(0x01 || seed)``, the text Go's ``note.NewSigner`` reads."""
    _check_name(name)
    seed = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    digest = key_hash(name, _public_bytes(private_key)).hex()
    return f"PRIVATE+KEY+{name}+{digest}+{base64.b64encode(ED25519 + seed).decode('ascii')}"


def parse_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    parts = text.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not re.fullmatch(r"[0-9a-f]{8}", parts[3]):
        raise MalformedNote("malformed signer key: want PRIVATE+KEY+<name>+<8 hex digits>+<base64 seed>")
    name, hash_hex, encoded = parts[2:]
    _check_name(name)
    raw = _b64decode(encoded, "malformed signer key")
    if len(raw) != 33 or raw[:1] != ED25519:
        raise MalformedNote("malformed signer key: not an Ed25519 (type 0x01) key")
    private_key = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if key_hash(name, _public_bytes(private_key)).hex() != hash_hex:
        raise MalformedNote(f"malformed signer key: key hash {hash_hex} does not match the name and key")
    return name, private_key


# --- Signed notes (C2SP signed-note) ---


def _check_text(text: str, what: str) -> bytes:
    """UTF-8 bytes of note text, which must be valid and free of control characters other than newline."""
    if len(text) > MAX_NOTE_BYTES:
        raise MalformedNote(f"{what}: larger than {MAX_NOTE_BYTES} bytes")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedNote(f"{what}: not valid UTF-8") from exc
    if len(raw) > MAX_NOTE_BYTES:
        raise MalformedNote(f"{what}: larger than {MAX_NOTE_BYTES} bytes")
    if any(c < " " and c != "\n" for c in text):
        raise MalformedNote(f"{what}: control character other than newline")
    return raw


def sign_note(body: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """``body``, a blank line, and one signature line: em dash, space, name, space, base64(key ID || sig)."""
    raw = _check_text(body, "note text")
    if not body.endswith("\n"):
        raise MalformedNote("note text must end with a newline")
    _check_name(name)
    signature = key_hash(name, _public_bytes(private_key)) + private_key.sign(raw)
    line = f"{SIGNATURE_PREFIX}{name} {base64.b64encode(signature).decode('ascii')}\n"
    if len(raw) + 1 + len(line.encode("utf-8")) > MAX_NOTE_BYTES:
        raise MalformedNote(f"note text: the signed note would be larger than {MAX_NOTE_BYTES} bytes")
    return f"{body}\n{line}"


def _signature_lines(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The note text (up to the last blank line) and each signature line's (key name, key ID || sig)."""
    _check_text(text, "malformed note")
    split = text.rfind("\n\n")
    if split < 0:
        raise MalformedNote("malformed note: no blank line before the signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNote("malformed note: no signature line, or the last one does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"malformed note: more than {MAX_SIGNATURES} signatures")
    signatures: list[tuple[str, bytes]] = []
    for line in lines:
        name, _, encoded = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
        if not line.startswith(SIGNATURE_PREFIX) or not encoded:
            raise MalformedNote("malformed note: a signature line is not '\u2014 <name> <base64>'")
        _check_name(name)
        signature = _b64decode(encoded, "malformed note: signature")
        if len(signature) < 5:
            raise MalformedNote("malformed note: a signature is shorter than 5 bytes")
        signatures.append((name, signature))
    return body, signatures


def open_note(text: str, name: str, public_key: bytes) -> str:
    """The note text, once every signature by ``name`` with this key verifies (and there is at least one)."""
    body, signatures = _signature_lines(text)
    key_id = key_hash(name, public_key)
    label = f"{name}+{key_id.hex()}"
    try:
        verifier = Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError as exc:
        raise MalformedNote("an Ed25519 public key is 32 bytes") from exc
    ours = [signature[4:] for signer, signature in signatures if signer == name and signature[:4] == key_id]
    if not ours:
        raise UnverifiedNote(f"no signature by {label} among {len(signatures)}")
    raw = body.encode("utf-8")
    for signature in ours:
        try:
            verifier.verify(signature, raw)
        except InvalidSignature as exc:
            raise BadSignature(f"bad signature by {label}") from exc
    return body


# --- Checkpoints (C2SP tlog-checkpoint) ---

_SIZE = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: origin line, tree size, root hash, and extension lines (not recommended)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        lines = (self.origin, *self.extensions)
        if not all(lines) or any(c < " " for line in lines for c in line):
            raise ValueError("checkpoint lines must be non-empty, without newlines or control characters")
        if not 0 <= self.size <= MAX_TREE_SIZE or len(self.root_hash) != HASH_SIZE:
            raise ValueError("a checkpoint has a size in [0, 2**64) and a 32-byte root hash")

    def body(self) -> str:
        root_b64 = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), root_b64, *self.extensions))

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        if not body.endswith("\n"):
            raise MalformedNote("malformed checkpoint: the body does not end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3 or not all(lines):
            raise MalformedNote("malformed checkpoint: want origin, size, root hash and non-empty extension lines")
        origin, size, root_b64, *extensions = lines
        if any(c < " " for c in body if c != "\n"):
            raise MalformedNote("malformed checkpoint: control character")
        if not _SIZE.fullmatch(size) or int(size) > MAX_TREE_SIZE:
            raise MalformedNote("malformed checkpoint: the size is not a decimal in [0, 2**64) without leading zeros")
        root_hash = _b64decode(root_b64, "malformed checkpoint: root hash")
        if len(root_hash) != HASH_SIZE:
            raise MalformedNote(f"malformed checkpoint: the root hash has {len(root_hash)} bytes, not {HASH_SIZE}")
        return cls(origin, int(size), root_hash, tuple(extensions))

    def sign(self, name: str, private_key: Ed25519PrivateKey) -> str:
        return sign_note(self.body(), name, private_key)

    @classmethod
    def open(cls, text: str, name: str, public_key: bytes, *, origin: str | None = None) -> Checkpoint:
        """The checkpoint signed by ``name``, whose origin must be ``origin`` (by default the key name)."""
        checkpoint = cls.parse(open_note(text, name, public_key))
        expected = name if origin is None else origin
        if checkpoint.origin != expected:
            raise NoteError(f"the checkpoint is not of the log {expected!r}")
        return checkpoint
