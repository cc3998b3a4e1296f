package auditlog

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"slices"
	"time"

	tlog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/tongxing/tongxing/auditlog/sm2note"
)

// MaxCheckpointSize bounds a signed checkpoint note accepted by
// [OpenCheckpoint].
const MaxCheckpointSize = 16 << 10

// ErrCheckpoint is returned (wrapped) when a checkpoint is malformed, has the
// wrong origin or lacks a valid log signature.
var ErrCheckpoint = errors.New("auditlog: invalid checkpoint")

// Checkpoint is a signed statement of the log's size and root hash in the
// C2SP tlog-checkpoint format (c2sp.org/tlog-checkpoint) wrapped in a signed
// note (c2sp.org/signed-note).
type Checkpoint struct {
	// Origin identifies the log; it is the first line of the note and the
	// key name of its signatures.
	Origin string
	// Size is the number of entries the checkpoint commits to.
	Size uint64
	// Root is the SM3 Merkle tree root hash of the first Size entries.
	Root []byte
	// Note is the signed note exactly as published.
	Note []byte
	// Time is when the checkpoint was signed. It is storage metadata, not part
	// of the signed text.
	Time time.Time
	// Timestamp is an optional timestamp token over Note, nil if none.
	Timestamp []byte
}

// CheckpointSigner signs checkpoints with the SM2 audit key and, optionally,
// co-signs them with an Ed25519 key. Both signatures use the origin as key
// name. It is safe for concurrent use if the keys are.
type CheckpointSigner struct {
	origin  string
	signers []note.Signer
	sm2     *sm2note.Verifier
}

// NewCheckpointSigner returns a signer for the log named origin (a
// schema-less URL such as "audit.tongxing.example/log", which must be a valid
// note key name: no spaces, no '+'). sm2Key must be an SM2 key; ed25519Key, if
// not nil, must be an Ed25519 key and adds a standard Ed25519 co-signature.
func NewCheckpointSigner(origin string, sm2Key, ed25519Key crypto.Signer) (*CheckpointSigner, error) {
	s, err := sm2note.NewSigner(origin, sm2Key)
	if err != nil {
		return nil, fmt.Errorf("auditlog: checkpoint signer: %w", err)
	}
	v, err := sm2note.NewVerifier(origin, sm2Key.Public().(*ecdsa.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("auditlog: checkpoint signer: %w", err)
	}
	cs := &CheckpointSigner{origin: origin, signers: []note.Signer{s}, sm2: v}
	if ed25519Key != nil {
		es, err := sm2note.NewEd25519Signer(origin, ed25519Key)
		if err != nil {
			return nil, fmt.Errorf("auditlog: checkpoint co-signer: %w", err)
		}
		cs.signers = append(cs.signers, es)
	}
	return cs, nil
}

// Origin returns the log origin.
func (s *CheckpointSigner) Origin() string { return s.origin }

// Verifier returns the SM2 verifier of the log signature.
func (s *CheckpointSigner) Verifier() *sm2note.Verifier { return s.sm2 }

// Sign returns the signed note for a tree of the given size and root.
func (s *CheckpointSigner) Sign(size uint64, root []byte) ([]byte, error) {
	if len(root) != HashSize {
		return nil, fmt.Errorf("auditlog: sign checkpoint: root hash is %d bytes, want %d", len(root), HashSize)
	}
	body := tlog.Checkpoint{Origin: s.origin, Size: size, Hash: root}.Marshal()
	msg, err := note.Sign(&note.Note{Text: string(body)}, s.signers...)
	if err != nil {
		return nil, fmt.Errorf("auditlog: sign checkpoint %d: %w", size, err)
	}
	return msg, nil
}

// OpenCheckpoint verifies a signed checkpoint note and parses its body. The
// note must carry a valid signature by logVerifier, whose name must equal the
// origin line, and one by each of otherVerifiers (the log co-signs every
// checkpoint: a note lacking a co-signature was signed by one key alone);
// signatures by unknown keys are ignored. The root must be 32 bytes. Extension
// lines after the root hash are permitted and ignored. Notes longer than
// MaxCheckpointSize are rejected.
func OpenCheckpoint(msg []byte, logVerifier note.Verifier, otherVerifiers ...note.Verifier) (*Checkpoint, error) {
	if len(msg) > MaxCheckpointSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrCheckpoint, len(msg), MaxCheckpointSize)
	}
	if logVerifier == nil {
		return nil, fmt.Errorf("%w: no log verifier", ErrCheckpoint)
	}
	cp, _, n, err := tlog.ParseCheckpoint(msg, logVerifier.Name(), logVerifier, otherVerifiers...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	for _, v := range otherVerifiers {
		if !slices.ContainsFunc(n.Sigs, func(s note.Signature) bool { return s.Name == v.Name() && s.Hash == v.KeyHash() }) {
			return nil, fmt.Errorf("%w: no signature by %s+%08x", ErrCheckpoint, v.Name(), v.KeyHash())
		}
	}
	if len(cp.Hash) != HashSize {
		return nil, fmt.Errorf("%w: root hash is %d bytes, want %d", ErrCheckpoint, len(cp.Hash), HashSize)
	}
	return &Checkpoint{Origin: cp.Origin, Size: cp.Size, Root: cp.Hash, Note: bytes.Clone(msg)}, nil
}

// parseCheckpointBody parses the unverified body of a signed note; callers
// must have verified the note.
func parseCheckpointBody(msg []byte) (*Checkpoint, error) {
	if len(msg) > MaxCheckpointSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrCheckpoint, len(msg), MaxCheckpointSize)
	}
	var c tlog.Checkpoint
	if _, err := c.Unmarshal(msg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	return &Checkpoint{Origin: c.Origin, Size: c.Size, Root: c.Hash, Note: msg}, nil
}
