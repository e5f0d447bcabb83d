// Command tlogcheck checks Rujukan's transparency log with Go's reference implementations:
// golang.org/x/mod/sumdb/note (signed notes), github.com/transparency-dev/formats/log (checkpoint
// bodies) and golang.org/x/mod/sumdb/tlog (RFC 6962 tree hashes and proofs).
//
// It reads one JSON request on stdin and writes one JSON answer on stdout; see check and sign.
// It is a test tool of tests/interop: nothing of Rujukan runs it in production.
package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Proof [][]byte `json:"proof"`
}

type consistency struct {
	First  int64    `json:"first"`
	Second int64    `json:"second"`
	Proof  [][]byte `json:"proof"`
}

type signRequest struct {
	Name string `json:"name"`
	Body string `json:"body"`
}

type request struct {
	Sign        *signRequest  `json:"sign"`
	VerifierKey string        `json:"verifier_key"`
	Note        string        `json:"note"`
	Leaves      [][]byte      `json:"leaves"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

type answer struct {
	NoteVerified      bool   `json:"note_verified"`
	NoteError         string `json:"note_error"`
	Origin            string `json:"origin"`
	Size              uint64 `json:"size"`
	RootMatchesLeaves bool   `json:"root_matches_leaves"`
	Root              []byte `json:"root"`
	InclusionOK       []bool `json:"inclusion_ok"`
	ConsistencyOK     []bool `json:"consistency_ok"`
}

type signAnswer struct {
	VerifierKey string `json:"verifier_key"`
	Note        string `json:"note"`
}

// tree holds every stored hash of the leaves, as tlog.StoredHashes lays them out.
type tree struct {
	size   int64
	stored []tlog.Hash
	leaves [][]byte
}

func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, index := range indexes {
		if index < 0 || index >= int64(len(t.stored)) {
			return nil, fmt.Errorf("no stored hash %d", index)
		}
		out[i] = t.stored[index]
	}
	return out, nil
}

func newTree(leaves [][]byte) (*tree, error) {
	t := &tree{leaves: leaves}
	for _, leaf := range leaves {
		hashes, err := tlog.StoredHashes(t.size, leaf, t)
		if err != nil {
			return nil, err
		}
		t.stored = append(t.stored, hashes...)
		t.size++
	}
	return t, nil
}

// rootAt is the checkpoint's root for its own size, and Go's own tree hash of the leaves for any other.
func (t *tree) rootAt(size int64, checkpoint *log.Checkpoint) (tlog.Hash, error) {
	if checkpoint != nil && uint64(size) == checkpoint.Size && len(checkpoint.Hash) == tlog.HashSize {
		return tlog.Hash(checkpoint.Hash), nil
	}
	if size < 0 || size > t.size {
		return tlog.Hash{}, errors.New("size beyond the leaves")
	}
	return tlog.TreeHash(size, t)
}

func hashes(proof [][]byte) ([]tlog.Hash, bool) {
	out := make([]tlog.Hash, len(proof))
	for i, h := range proof {
		if len(h) != tlog.HashSize {
			return nil, false
		}
		out[i] = tlog.Hash(h)
	}
	return out, true
}

func openCheckpoint(vkey, text string, a *answer) *log.Checkpoint {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		a.NoteError = "verifier key: " + err.Error()
		return nil
	}
	n, err := note.Open([]byte(text), note.VerifierList(verifier))
	if err != nil {
		a.NoteError = err.Error()
		return nil
	}
	checkpoint := &log.Checkpoint{}
	if _, err := checkpoint.Unmarshal([]byte(n.Text)); err != nil {
		a.NoteError = err.Error()
		return nil
	}
	a.NoteVerified = true
	a.Origin = checkpoint.Origin
	a.Size = checkpoint.Size
	return checkpoint
}

func (t *tree) inclusionOK(p inclusion, checkpoint *log.Checkpoint) bool {
	proof, ok := hashes(p.Proof)
	if !ok || p.Index < 0 || p.Index >= t.size || p.Size < 1 {
		return false
	}
	root, err := t.rootAt(p.Size, checkpoint)
	if err != nil {
		return false
	}
	return tlog.CheckRecord(proof, p.Size, root, p.Index, tlog.RecordHash(t.leaves[p.Index])) == nil
}

func (t *tree) consistencyOK(p consistency, checkpoint *log.Checkpoint) bool {
	proof, ok := hashes(p.Proof)
	if !ok || p.First < 1 || p.Second < p.First {
		return false
	}
	first, err1 := t.rootAt(p.First, checkpoint)
	second, err2 := t.rootAt(p.Second, checkpoint)
	if err1 != nil || err2 != nil {
		return false
	}
	return tlog.CheckTree(proof, p.Second, second, p.First, first) == nil
}

func check(req request) (answer, error) {
	a := answer{InclusionOK: []bool{}, ConsistencyOK: []bool{}}
	t, err := newTree(req.Leaves)
	if err != nil {
		return a, err
	}
	root, err := tlog.TreeHash(t.size, t)
	if err != nil {
		return a, err
	}
	a.Root = root[:]
	checkpoint := openCheckpoint(req.VerifierKey, req.Note, &a)
	if checkpoint != nil && checkpoint.Size <= uint64(t.size) {
		fromLeaves, err := tlog.TreeHash(int64(checkpoint.Size), t)
		a.RootMatchesLeaves = err == nil && string(fromLeaves[:]) == string(checkpoint.Hash)
	}
	for _, p := range req.Inclusion {
		a.InclusionOK = append(a.InclusionOK, t.inclusionOK(p, checkpoint))
	}
	for _, p := range req.Consistency {
		a.ConsistencyOK = append(a.ConsistencyOK, t.consistencyOK(p, checkpoint))
	}
	return a, nil
}

func sign(req signRequest) (signAnswer, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, req.Name)
	if err != nil {
		return signAnswer{}, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return signAnswer{}, err
	}
	msg, err := note.Sign(&note.Note{Text: req.Body}, signer)
	if err != nil {
		return signAnswer{}, err
	}
	return signAnswer{VerifierKey: vkey, Note: string(msg)}, nil
}

func run() error {
	var req request
	decoder := json.NewDecoder(os.Stdin)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&req); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	var out any
	var err error
	if req.Sign != nil {
		out, err = sign(*req.Sign)
	} else {
		out, err = check(req)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tlogcheck:", err)
		os.Exit(1)
	}
}
