"""Rujukan's transparency log against Go's reference code (sumdb/note, sumdb/tlog, transparency-dev formats).

Python builds the tree, signs the checkpoint and makes every proof; Go checks the signature, parses the
checkpoint, recomputes the root from the leaves' bytes and verifies each proof against the root the
checkpoint claims. Then the other way: Go signs, Python opens.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rujukan.core import tlog
from rujukan.core.tlog import BadSignature, Checkpoint, MemoryNodes, UnverifiedNote
from tests.interop.tlogcheck import check

LOG = "rujukan.example/referral-log"
KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes_raw()
SIZES = [1, 2, 7, 8, 9, 255, random.Random(20240501).randint(1, 300)]


def _b64(items: list[bytes]) -> list[str]:
    return [base64.b64encode(item).decode("ascii") for item in items]


def _leaves(size: int) -> list[bytes]:
    rng = random.Random(size)
    return [rng.randbytes(rng.randint(0, 64)) for _ in range(size)]


def _nodes(leaves: list[bytes]) -> MemoryNodes:
    """The tree grown in random batches, as the log grows."""
    rng, nodes = random.Random(len(leaves)), MemoryNodes()
    while nodes.size < len(leaves):
        batch = rng.randint(1, 17)
        nodes.extend([tlog.leaf_hash(leaf) for leaf in leaves[nodes.size : nodes.size + batch]])
    return nodes


def _request(leaves: list[bytes], nodes: MemoryNodes, note: str) -> dict[str, Any]:
    size = len(leaves)
    smaller = sorted({1, max(1, size // 2), size})
    inclusion = [(index, at) for at in smaller for index in range(at)]
    consistency = [(first, second) for second in smaller for first in range(1, second + 1)]
    return {
        "verifier_key": tlog.verifier_key(LOG, PUBLIC),
        "note": note,
        "leaves": _b64(leaves),
        "inclusion": [
            {"index": i, "size": n, "proof": _b64(tlog.inclusion_proof(i, n, nodes.get))} for i, n in inclusion
        ],
        "consistency": [
            {"first": m, "second": n, "proof": _b64(tlog.consistency_proof(m, n, nodes.get))} for m, n in consistency
        ],
    }


@pytest.mark.parametrize("size", SIZES)
def test_go_verifies_our_checkpoint_root_and_every_proof(size: int) -> None:
    leaves = _leaves(size)
    nodes = _nodes(leaves)
    checkpoint = Checkpoint(LOG, size, nodes.root())
    request = _request(leaves, nodes, checkpoint.sign(LOG, KEY))
    answer = check(request)
    assert answer["note_error"] == ""
    assert answer["note_verified"]
    assert (answer["origin"], answer["size"]) == (LOG, size)
    assert answer["root_matches_leaves"]
    assert base64.b64decode(answer["root"]) == checkpoint.root_hash == tlog.root_of([tlog.leaf_hash(x) for x in leaves])
    assert answer["inclusion_ok"] == [True] * len(request["inclusion"])
    assert answer["consistency_ok"] == [True] * len(request["consistency"])


def _flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8 % len(changed)] ^= 1 << (bit % 8)
    return bytes(changed)


@pytest.mark.parametrize("size", [2, 9, 255])
def test_go_rejects_a_changed_leaf(size: int) -> None:
    leaves = _leaves(size)
    nodes = _nodes(leaves)
    request = _request(leaves, nodes, Checkpoint(LOG, size, nodes.root()).sign(LOG, KEY))
    changed = size // 3
    leaves[changed] = leaves[changed] + b"!" if not leaves[changed] else _flip(leaves[changed], 5)
    answer = check({**request, "leaves": _b64(leaves)})
    assert answer["note_verified"]
    assert not answer["root_matches_leaves"]
    for probe, ok in zip(request["inclusion"], answer["inclusion_ok"], strict=True):
        # At the checkpoint's size Go verifies against the signed root, so only the changed leaf fails there.
        if probe["size"] == size:
            assert ok == (probe["index"] != changed)


@pytest.mark.parametrize("size", [2, 9, 255])
def test_go_rejects_a_changed_proof_hash(size: int) -> None:
    leaves = _leaves(size)
    nodes = _nodes(leaves)
    request = _request(leaves, nodes, Checkpoint(LOG, size, nodes.root()).sign(LOG, KEY))
    rng = random.Random(size)
    for probe in [*request["inclusion"], *request["consistency"]]:
        if probe["proof"]:
            item = rng.randrange(len(probe["proof"]))
            raw = _flip(base64.b64decode(probe["proof"][item]), rng.randrange(256))
            probe["proof"][item] = base64.b64encode(raw).decode("ascii")
    answer = check(request)
    assert answer["note_verified"]
    assert answer["root_matches_leaves"]
    for probe, ok in zip(request["inclusion"], answer["inclusion_ok"], strict=True):
        assert ok == (not probe["proof"])
    for probe, ok in zip(request["consistency"], answer["consistency_ok"], strict=True):
        assert ok == (not probe["proof"])


def test_go_rejects_a_note_signed_by_another_key_or_changed() -> None:
    leaves = _leaves(9)
    nodes = _nodes(leaves)
    checkpoint = Checkpoint(LOG, 9, nodes.root())
    other = Ed25519PrivateKey.generate()
    answer = check(_request(leaves, nodes, checkpoint.sign(LOG, other)))
    assert not answer["note_verified"]
    assert answer["note_error"] == "note has no verifiable signatures"
    changed = checkpoint.sign(LOG, KEY).replace(f"\n{checkpoint.size}\n", f"\n{checkpoint.size - 1}\n", 1)
    answer = check(_request(leaves, nodes, changed))
    assert not answer["note_verified"]
    assert answer["note_error"].startswith(f"invalid signature for key {LOG}+")
    witness = tlog.sign_note(checkpoint.body(), "witness.example", other)
    cosigned = checkpoint.sign(LOG, KEY) + witness[witness.rindex("\n\n") + 2 :]
    answer = check(_request(leaves, nodes, cosigned))
    assert answer["note_verified"], answer["note_error"]


def test_python_opens_a_note_go_signed_and_rejects_it_changed() -> None:
    checkpoint = Checkpoint("go.example/log", 2, tlog.root_of([tlog.leaf_hash(b"a"), tlog.leaf_hash(b"b")]), ("ext",))
    signed = check({"sign": {"name": "go.example/log", "body": checkpoint.body()}})
    name, _, public_key = tlog.parse_verifier_key(signed["verifier_key"])
    assert name == "go.example/log"
    assert tlog.open_note(signed["note"], name, public_key) == checkpoint.body()
    assert Checkpoint.open(signed["note"], name, public_key) == checkpoint
    with pytest.raises(BadSignature):
        tlog.open_note(signed["note"].replace("\n2\n", "\n3\n", 1), name, public_key)
    with pytest.raises(UnverifiedNote):
        tlog.open_note(signed["note"], name, PUBLIC)


def test_python_opens_a_go_signed_note_with_blank_lines_in_its_text() -> None:
    body = "first\n\nsecond — with an em dash\n\u00e9\n"
    signed = check({"sign": {"name": "go.example/notes", "body": body}})
    name, _, public_key = tlog.parse_verifier_key(signed["verifier_key"])
    assert tlog.open_note(signed["note"], name, public_key) == body
    assert tlog.sign_note(body, "go.example/notes", KEY).startswith(body + "\n\u2014 go.example/notes ")
