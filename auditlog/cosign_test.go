package auditlog

import (
	"errors"
	"testing"
)

// TestOpenCheckpointRequiresEveryGivenKey: a verifier handed both published
// keys (DATA/pki/audit-note-keys.txt: SM2 then Ed25519) must refuse a
// checkpoint that carries only the SM2 signature. Every checkpoint the server
// publishes is co-signed; one without the co-signature was made by someone
// holding the SM2 key alone.
func TestOpenCheckpointRequiresEveryGivenKey(t *testing.T) {
	k := newKeys(t)
	edv := k.edVerifier(t)
	// The attacker holds only the SM2 audit key and signs a tree of its own.
	sm2Only, err := NewCheckpointSigner(testOrigin, k.sm2, nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := Hasher{}.HashLeaf([]byte(`{"forged":true}`))
	msg, err := sm2Only.Sign(1, forged)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := OpenCheckpoint(msg, k.signer.Verifier(), edv)
	if !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("checkpoint without the Ed25519 co-signature accepted with both keys given: %+v, err %v", cp, err)
	}
	// The genuine, co-signed checkpoint still opens with both keys.
	good, err := k.signer.Sign(1, forged)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCheckpoint(good, k.signer.Verifier(), edv); err != nil {
		t.Fatal(err)
	}
}
