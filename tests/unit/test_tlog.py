"""The transparency log: RFC 9162 trees, proofs and their verification; C2SP checkpoints and signed notes.

Trees and proofs are compared with a naive recursive reference written from RFC 9162 sections 2.1.1,
2.1.3.1 and 2.1.4.1 (``_mth``, ``_path``, ``_subproof`` below), and with known answers from
transparency-dev/merkle. Notes are checked against the examples of the C2SP signed-note specification and
of Go's golang.org/x/mod/sumdb/note.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from rujukan.core import tlog
from rujukan.core.errors import RujukanError
from rujukan.core.tlog import (
    EMPTY_ROOT,
    BadSignature,
    Checkpoint,
    MalformedNote,
    MemoryNodes,
    NoteError,
    UnverifiedNote,
)

# --- The reference: RFC 9162 section 2.1, recursion as written, over the leaves' bytes ---


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _split(len(leaves))
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    if m == len(leaves):
        return [] if whole else [_mth(leaves)]
    k = _split(len(leaves))
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def _proof(m: int, leaves: list[bytes]) -> list[bytes]:
    return _subproof(m, leaves, True)


# --- Known answers: transparency-dev/merkle testonly/constants.go (LeafInputs, NodeHashes, RootHashes) ---

KNOWN_LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]] + [
    bytes.fromhex("606162636465666768696a6b6c6d6e6f")
]
KNOWN_NODES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
KNOWN_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# The happy-path probes of transparency-dev/merkle testdata/{inclusion,consistency}/*/happy-path.json; each
# proof hash there is one of NodeHashes, written here as its (level, index).
KNOWN_INCLUSION = [(0, 1, []), (0, 8, [(0, 1), (1, 1), (2, 1)]), (5, 8, [(0, 4), (1, 3), (2, 0)])]
KNOWN_INCLUSION += [(2, 3, [(1, 0)]), (1, 5, [(0, 0), (1, 1), (0, 4)])]
KNOWN_CONSISTENCY = [(1, 1, []), (1, 8, [(0, 1), (1, 1), (2, 1)]), (6, 8, [(1, 2), (1, 3), (2, 0)])]
KNOWN_CONSISTENCY += [(2, 5, [(1, 1), (0, 4)]), (6, 7, [(1, 2), (0, 6), (2, 0)])]


def _known(node: tuple[int, int]) -> bytes:
    return bytes.fromhex(KNOWN_NODES[node[0]][node[1]])


def test_known_roots_and_stored_nodes() -> None:
    nodes = MemoryNodes()
    for size, leaf in enumerate(KNOWN_LEAVES, start=1):
        nodes.extend([tlog.leaf_hash(leaf)])
        assert nodes.root().hex() == KNOWN_ROOTS[size]
    assert [tlog.root(size, nodes.get).hex() for size in range(9)] == KNOWN_ROOTS
    assert [[nodes.get(level, i).hex() for i in range(8 >> level)] for level in range(4)] == KNOWN_NODES
    assert tlog.root_of([tlog.leaf_hash(leaf) for leaf in KNOWN_LEAVES]).hex() == KNOWN_ROOTS[8]
    assert EMPTY_ROOT.hex() == KNOWN_ROOTS[0] == tlog.root_of([]).hex()


@pytest.mark.parametrize(("index", "size", "path"), KNOWN_INCLUSION)
def test_known_inclusion_proofs(index: int, size: int, path: list[tuple[int, int]]) -> None:
    nodes = MemoryNodes([tlog.leaf_hash(leaf) for leaf in KNOWN_LEAVES])
    proof = tlog.inclusion_proof(index, size, nodes.get)
    assert proof == [_known(node) for node in path]
    assert tlog.verify_inclusion(index, size, _known((0, index)), proof, bytes.fromhex(KNOWN_ROOTS[size]))


@pytest.mark.parametrize(("first", "second", "path"), KNOWN_CONSISTENCY)
def test_known_consistency_proofs(first: int, second: int, path: list[tuple[int, int]]) -> None:
    nodes = MemoryNodes([tlog.leaf_hash(leaf) for leaf in KNOWN_LEAVES])
    proof = tlog.consistency_proof(first, second, nodes.get)
    assert proof == [_known(node) for node in path]
    roots = bytes.fromhex(KNOWN_ROOTS[first]), bytes.fromhex(KNOWN_ROOTS[second])
    assert tlog.verify_consistency(first, second, *roots, proof)


# --- Properties against the reference ---


def _unique_leaves(count: int, salt: bytes) -> list[bytes]:
    return [i.to_bytes(4, "big") + salt for i in range(count)]


@st.composite
def _log(draw: st.DrawFn) -> tuple[list[bytes], list[int]]:
    """Distinct leaves and the batch sizes they were appended in."""
    batches = draw(st.lists(st.integers(0, 23), min_size=1, max_size=8))
    return _unique_leaves(sum(batches), draw(st.binary(max_size=4))), batches


def _reading(nodes: MemoryNodes, reads: list[tuple[int, int]]) -> Callable[[int, int], bytes]:
    def get(level: int, index: int) -> bytes:
        reads.append((level, index))
        return nodes.get(level, index)

    return get


def _built(leaves: list[bytes], batches: list[int]) -> tuple[MemoryNodes, dict[tuple[int, int], bytes]]:
    """A MemoryNodes grown batch by batch, and every node appended() returned, checking its reads."""
    nodes, offset = MemoryNodes(), 0
    stored: dict[tuple[int, int], bytes] = {}
    for batch in batches:
        reads: list[tuple[int, int]] = []
        hashes = [tlog.leaf_hash(leaf) for leaf in leaves[offset : offset + batch]]
        new = tlog.appended(nodes.size, hashes, _reading(nodes, reads))
        assert set(reads) <= set(tlog.root_nodes(nodes.size))
        stored.update({(level, index): h for level, index, h in new})
        nodes.extend(hashes)
        offset += batch
    return nodes, stored


@settings(max_examples=150, deadline=None)
@given(_log())
def test_appended_stores_every_perfect_subtree_and_reads_only_the_frontier(log: tuple[list[bytes], list[int]]) -> None:
    leaves, batches = log
    _, stored = _built(leaves, batches)
    expected = {
        (level, k): _mth(leaves[k << level : (k + 1) << level])
        for level in range(len(leaves).bit_length())
        for k in range(len(leaves) >> level)
    }
    assert stored == expected


@settings(max_examples=150, deadline=None)
@given(_log())
def test_every_root_equals_the_reference(log: tuple[list[bytes], list[int]]) -> None:
    leaves, batches = log
    nodes, _ = _built(leaves, batches)
    hashes = [tlog.leaf_hash(leaf) for leaf in leaves]
    for size in range(len(leaves) + 1):
        reads: list[tuple[int, int]] = []
        assert tlog.root(size, _reading(nodes, reads)) == _mth(leaves[:size]) == tlog.root_of(hashes[:size])
        assert reads == tlog.root_nodes(size)
        assert len(reads) == size.bit_count()


def _sizes_and_index(data: st.DataObject, leaves: list[bytes]) -> tuple[int, int]:
    size = data.draw(st.integers(1, max(1, len(leaves))))
    return size, data.draw(st.integers(0, size - 1))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 300), st.data())
def test_inclusion_proofs_equal_the_reference_and_verify(count: int, data: st.DataObject) -> None:
    leaves = _unique_leaves(count, b"i")
    nodes = MemoryNodes([tlog.leaf_hash(leaf) for leaf in leaves])
    size, index = _sizes_and_index(data, leaves)
    reads: list[tuple[int, int]] = []
    proof = tlog.inclusion_proof(index, size, _reading(nodes, reads))
    assert proof == _path(index, leaves[:size])
    assert reads == tlog.inclusion_nodes(index, size)
    assert len(reads) <= 2 * size.bit_length()
    assert tlog.verify_inclusion(index, size, tlog.leaf_hash(leaves[index]), proof, _mth(leaves[:size]))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 300), st.data())
def test_consistency_proofs_equal_the_reference_and_verify(count: int, data: st.DataObject) -> None:
    leaves = _unique_leaves(count, b"c")
    nodes = MemoryNodes([tlog.leaf_hash(leaf) for leaf in leaves])
    second = data.draw(st.integers(1, count))
    first = data.draw(st.integers(1, second))
    reads: list[tuple[int, int]] = []
    proof = tlog.consistency_proof(first, second, _reading(nodes, reads))
    assert proof == _proof(first, leaves[:second])
    assert reads == tlog.consistency_nodes(first, second)
    assert len(reads) <= 2 * second.bit_length()
    assert tlog.verify_consistency(first, second, _mth(leaves[:first]), _mth(leaves[:second]), proof)


def _flipped(proof: list[bytes], item: int, bit: int) -> list[bytes]:
    changed = bytearray(proof[item])
    changed[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:item], bytes(changed), *proof[item + 1 :]]


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 70), st.data())
def test_a_tampered_inclusion_proof_fails(count: int, data: st.DataObject) -> None:
    leaves = _unique_leaves(count, b"t")
    size, index = _sizes_and_index(data, leaves)
    proof, root, leaf = _path(index, leaves[:size]), _mth(leaves[:size]), tlog.leaf_hash(leaves[index])
    if proof:
        item = data.draw(st.integers(0, len(proof) - 1))
        assert not tlog.verify_inclusion(index, size, leaf, _flipped(proof, item, data.draw(st.integers(0, 255))), root)
        assert not tlog.verify_inclusion(index, size, leaf, proof[:-1], root)
    assert not tlog.verify_inclusion(index, size, leaf, [*proof, leaf], root)
    assert not tlog.verify_inclusion(index, size, leaf, proof, _flipped([root], 0, data.draw(st.integers(0, 255)))[0])
    assert not tlog.verify_inclusion(index, size, tlog.leaf_hash(leaves[index] + b"x"), proof, root)
    other = data.draw(st.integers(0, count).filter(lambda i: i != index))
    assert not tlog.verify_inclusion(other, size, leaf, proof, root)
    wrong_size = data.draw(st.integers(index + 1, count).filter(lambda n: n != size))
    # A proof shaped like the one for the other size verifies against that size's real root, and only then.
    expected = _path(index, leaves[:wrong_size]) == proof
    assert tlog.verify_inclusion(index, wrong_size, leaf, proof, _mth(leaves[:wrong_size])) == expected


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 70), st.data())
def test_a_tampered_consistency_proof_fails(count: int, data: st.DataObject) -> None:
    leaves = _unique_leaves(count, b"k")
    second = data.draw(st.integers(2, count))
    first = data.draw(st.integers(1, second - 1))
    proof, roots = _proof(first, leaves[:second]), (_mth(leaves[:first]), _mth(leaves[:second]))
    item, bit = data.draw(st.integers(0, len(proof) - 1)), data.draw(st.integers(0, 255))
    assert not tlog.verify_consistency(first, second, *roots, _flipped(proof, item, bit))
    assert not tlog.verify_consistency(first, second, *roots, proof[:-1])
    assert not tlog.verify_consistency(first, second, *roots, [*proof, roots[0]])
    assert not tlog.verify_consistency(first, second, _flipped([roots[0]], 0, bit)[0], roots[1], proof)
    assert not tlog.verify_consistency(first, second, roots[0], _flipped([roots[1]], 0, bit)[0], proof)
    assert not tlog.verify_consistency(second, first, roots[1], roots[0], proof)
    other_first = data.draw(st.integers(1, second).filter(lambda m: m != first))
    expected = _proof(other_first, leaves[:second]) == proof
    assert tlog.verify_consistency(other_first, second, _mth(leaves[:other_first]), roots[1], proof) == expected
    other_second = data.draw(st.integers(first, count).filter(lambda n: n != second))
    expected = _proof(first, leaves[:other_second]) == proof
    assert tlog.verify_consistency(first, other_second, roots[0], _mth(leaves[:other_second]), proof) == expected


def test_the_edges_of_consistency_follow_the_module_rules() -> None:
    nodes = MemoryNodes([tlog.leaf_hash(leaf) for leaf in KNOWN_LEAVES])
    root3 = tlog.root(3, nodes.get)
    assert tlog.consistency_proof(3, 3, nodes.get) == tlog.consistency_proof(0, 3, nodes.get) == []
    assert tlog.verify_consistency(3, 3, root3, root3, [])
    assert not tlog.verify_consistency(3, 3, root3, EMPTY_ROOT, [])
    assert not tlog.verify_consistency(3, 3, root3, root3, [root3])
    assert tlog.verify_consistency(0, 3, EMPTY_ROOT, root3, [])
    assert tlog.verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not tlog.verify_consistency(0, 3, root3, root3, [])
    assert not tlog.verify_consistency(0, 3, EMPTY_ROOT, root3, [root3])
    assert not tlog.verify_consistency(1, 3, tlog.root(1, nodes.get), root3, [])
    assert not tlog.verify_consistency(1, 3, b"short", root3, tlog.consistency_proof(1, 3, nodes.get))
    assert not tlog.verify_inclusion(3, 3, nodes.get(0, 2), [], root3)
    assert not tlog.verify_inclusion(-1, 3, nodes.get(0, 2), [], root3)
    with pytest.raises(ValueError, match="no consistency proof"):
        tlog.consistency_proof(4, 3, nodes.get)
    with pytest.raises(ValueError, match="not in a tree"):
        tlog.inclusion_proof(3, 3, nodes.get)
    with pytest.raises(ValueError, match="not made of stored subtrees"):
        tlog.subtree_hash(1, 3, nodes.get)
    assert tlog.subtree_hash(4, 7, nodes.get) == _mth(KNOWN_LEAVES[4:7])


def test_a_missing_node_is_a_key_error_and_a_leaf_that_is_not_a_hash_is_refused() -> None:
    nodes = MemoryNodes([tlog.leaf_hash(b"a")])
    with pytest.raises(KeyError):
        tlog.root(2, nodes.get)
    with pytest.raises(KeyError):
        nodes.get(-1, 0)
    with pytest.raises(ValueError, match="leaf hashes are 32 bytes"):
        nodes.extend([b"raw event bytes"])
    with pytest.raises(ValueError, match="leaf hashes are 32 bytes"):
        tlog.root_of([tlog.leaf_hash(b"a"), b"raw"])


# --- Keys and signed notes ---

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
# C2SP signed-note, "Verifier keys", "Example".
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# C2SP tlog-checkpoint, the opening example (its key is not published).
C2SP_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u2014 "
    "example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)
LOG = "rujukan.example/log"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
PUBLIC = KEY.public_key().public_bytes_raw()


def _signature_line(note: str) -> str:
    return note[note.rindex("\n\n") + 2 :]


def test_go_note_example_signs_to_the_same_bytes() -> None:
    name, private_key = tlog.parse_signer_key(PETER_SKEY)
    public_key = private_key.public_key().public_bytes_raw()
    assert tlog.verifier_key(name, public_key) == PETER_VKEY
    assert tlog.signer_key(name, private_key) == PETER_SKEY
    note = tlog.sign_note(PETER_TEXT, name, private_key)
    assert note == f"{PETER_TEXT}\n\u2014 PeterNeumann {PETER_SIG}\n"
    assert tlog.open_note(note, *tlog.parse_verifier_key(PETER_VKEY)[::2]) == PETER_TEXT


def test_c2sp_example_note_opens() -> None:
    name, key_id, public_key = tlog.parse_verifier_key(C2SP_VKEY)
    assert (name, key_id) == ("example.com/foo", bytes.fromhex("530d903a"))
    assert tlog.key_hash(name, public_key) == key_id
    assert tlog.open_note(C2SP_NOTE, name, public_key) == "This is an example message.\n"


def test_c2sp_example_checkpoint_parses_and_its_unknown_signature_is_ignored() -> None:
    body = C2SP_CHECKPOINT[: C2SP_CHECKPOINT.rindex("\n\n") + 1]
    checkpoint = Checkpoint.parse(body)
    assert (checkpoint.origin, checkpoint.size, checkpoint.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert checkpoint.body() == body
    with pytest.raises(UnverifiedNote, match=r"no signature by example\.com/behind-the-sofa"):
        tlog.open_note(C2SP_CHECKPOINT, "example.com/behind-the-sofa", PUBLIC)


def test_a_checkpoint_round_trips_through_a_signed_note() -> None:
    checkpoint = Checkpoint(LOG, 7, hashlib.sha256(b"x").digest(), ("ext one",))
    note = checkpoint.sign(LOG, KEY)
    assert note.startswith(f"{LOG}\n7\n{base64.b64encode(checkpoint.root_hash).decode()}\next one\n\n\u2014 {LOG} ")
    assert Checkpoint.open(note, LOG, PUBLIC) == checkpoint
    assert Checkpoint.parse(Checkpoint(LOG, 0, EMPTY_ROOT).body()).size == 0
    with pytest.raises(NoteError, match=r"not of the log 'another\.example/log'"):
        Checkpoint.open(note, LOG, PUBLIC, origin="another.example/log")


def test_signatures_by_other_keys_are_ignored() -> None:
    body = "hello\n\nworld\n"
    ours, theirs = tlog.sign_note(body, LOG, KEY), tlog.sign_note(body, "witness.example", OTHER_KEY)
    cosigned = theirs + _signature_line(ours)
    assert tlog.open_note(cosigned, LOG, PUBLIC) == body
    other_public = OTHER_KEY.public_key().public_bytes_raw()
    assert tlog.open_note(cosigned, "witness.example", other_public) == body
    with pytest.raises(UnverifiedNote, match=f"no signature by {LOG}\\+[0-9a-f]{{8}} among 1"):
        tlog.open_note(theirs, LOG, PUBLIC)
    with pytest.raises(UnverifiedNote):
        tlog.open_note(tlog.sign_note(body, LOG, OTHER_KEY), LOG, PUBLIC)
    with pytest.raises(UnverifiedNote):
        tlog.open_note(tlog.sign_note(body, "other.example", KEY), LOG, PUBLIC)
    witnesses = [_signature_line(tlog.sign_note(body, f"w{i}.example", OTHER_KEY)) for i in range(15)]
    assert tlog.open_note(f"{body}\n{''.join(witnesses)}{_signature_line(ours)}", LOG, PUBLIC) == body


def test_a_changed_signature_or_body_fails() -> None:
    note = tlog.sign_note("body\n", LOG, KEY)
    prefix, encoded = note[:-1].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[10] ^= 1
    with pytest.raises(BadSignature, match=f"bad signature by {LOG}"):
        tlog.open_note(f"{prefix} {base64.b64encode(raw).decode()}\n", LOG, PUBLIC)
    raw[10] ^= 1
    raw[0] ^= 1
    with pytest.raises(UnverifiedNote):
        tlog.open_note(f"{prefix} {base64.b64encode(raw).decode()}\n", LOG, PUBLIC)
    with pytest.raises(BadSignature):
        tlog.open_note(note.replace("body", "bodY"), LOG, PUBLIC)
    with pytest.raises(BadSignature):
        tlog.open_note(note + _signature_line(note).replace(encoded, encoded[:20] + "A" + encoded[21:]), LOG, PUBLIC)


def _malformed_notes() -> list[tuple[str, str]]:
    note = tlog.sign_note("body\n", LOG, KEY)
    line = _signature_line(note)
    return [
        (note.replace("\u2014", "-"), "signature line"),
        (note.replace("\u2014", "\u2013"), "signature line"),
        (note.replace("\u2014 ", "\u2014"), "signature line"),
        (note.replace(f"{LOG} ", f"{LOG}  "), "signature"),
        (note.replace("\n\n", "\n"), "no blank line"),
        (note[:-1], "does not end with a newline"),
        (note + "\n", "no signature line"),
        ("body\n\n", "no signature line"),
        (note.replace("body", "bo\tdy"), "control character"),
        (note.replace("body", "bo\rdy"), "control character"),
        (note.replace("body", "bo\ud800dy"), "not valid UTF-8"),
        (note.replace(f"\u2014 {LOG}", "\u2014 a+b"), "key name"),
        (note[:-3] + "=\n", "base64"),
        (note[:-3] + "B=\n", "not canonical base64"),
        (note[: -len(line)] + "\u2014 " + LOG + " AAAA\n", "shorter than 5 bytes"),
        (note + line * 100, f"more than {tlog.MAX_SIGNATURES} signatures"),
        ("x" * tlog.MAX_NOTE_BYTES + note, "larger than"),
        ("\u00e9" * (tlog.MAX_NOTE_BYTES // 2) + note, "larger than"),
    ]


@pytest.mark.parametrize(("text", "message"), _malformed_notes())
def test_a_malformed_note_is_named(text: str, message: str) -> None:
    with pytest.raises(MalformedNote, match=message) as raised:
        tlog.open_note(text, LOG, PUBLIC)
    assert isinstance(raised.value, NoteError)
    assert isinstance(raised.value, RujukanError)
    assert "body" not in str(raised.value)


@pytest.mark.parametrize(
    ("body", "name", "message"),
    [
        ("no final newline", LOG, "end with a newline"),
        ("tab\there\n", LOG, "control character"),
        ("fine\n", "", "key name"),
        ("fine\n", "has space", "key name"),
        ("fine\n", "has+plus", "key name"),
        ("fine\n", "nbsp\u00a0name", "key name"),
        ("x" * (tlog.MAX_NOTE_BYTES - 50) + "\n", LOG, "would be larger than"),
    ],
)
def test_sign_note_refuses_what_could_not_be_opened(body: str, name: str, message: str) -> None:
    with pytest.raises(MalformedNote, match=message):
        tlog.sign_note(body, name, KEY)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("origin\n1\n", "want origin, size, root hash"),
        ("origin\n1\nroot", "does not end with a newline"),
        ("\n1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "want origin"),
        ("origin\n1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n\n", "non-empty extension lines"),
        ("origin\n007\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "leading zeros"),
        ("origin\n+7\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "size"),
        ("origin\n 7\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "size"),
        ("origin\n1_0\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "size"),
        ("origin\n\u0663\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "size"),
        ("origin\n18446744073709551616\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "size"),
        ("origin\n1\n" + base64.b64encode(EMPTY_ROOT[:31]).decode() + "\n", "31 bytes, not 32"),
        ("origin\n1\n" + base64.b64encode(EMPTY_ROOT).decode()[:-2] + "F=\n", "not canonical"),
        ("origin\n1\n" + base64.urlsafe_b64encode(b"\xff" * 32).decode() + "\n", "not base64"),
        ("ori\x01gin\n1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "control character"),
    ],
)
def test_a_malformed_checkpoint_is_named(body: str, message: str) -> None:
    with pytest.raises(MalformedNote, match=message):
        Checkpoint.parse(body)


def test_a_checkpoint_with_the_largest_size_and_extensions_parses() -> None:
    body = f"o\n{2**64 - 1}\n{base64.b64encode(EMPTY_ROOT).decode()}\nx\ny z\n"
    assert Checkpoint.parse(body) == Checkpoint("o", 2**64 - 1, EMPTY_ROOT, ("x", "y z"))
    with pytest.raises(ValueError, match="32-byte root hash"):
        Checkpoint("o", 1, b"short")
    with pytest.raises(ValueError, match="non-empty"):
        Checkpoint("o\nx", 1, EMPTY_ROOT)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/fooo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "8 lowercase hex"),
        ("example.com/foo+530d903a", "8 lowercase hex"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2", "base64"),
        ("example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "type 0x01"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2kAA==", "type 0x01"),
        ("exa mple+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "key name"),
    ],
)
def test_a_malformed_verifier_key_is_named(text: str, message: str) -> None:
    with pytest.raises(MalformedNote, match=message):
        tlog.parse_verifier_key(text)


def test_a_verifier_key_round_trips_and_its_base64_may_hold_a_plus() -> None:
    assert tlog.parse_verifier_key(tlog.verifier_key(LOG, PUBLIC)) == (LOG, tlog.key_hash(LOG, PUBLIC), PUBLIC)
    keys = (Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32) for seed in range(256))
    public_key = next(k for k in (key.public_key().public_bytes_raw() for key in keys) if b"+" in base64.b64encode(k))
    assert tlog.parse_verifier_key(tlog.verifier_key(LOG, public_key))[2] == public_key
    with pytest.raises(MalformedNote, match="32 bytes"):
        tlog.verifier_key(LOG, PUBLIC[:31])
    with pytest.raises(MalformedNote, match="does not match"):
        tlog.parse_signer_key(PETER_SKEY.replace("c74f20a3", "c74f20a4"))
