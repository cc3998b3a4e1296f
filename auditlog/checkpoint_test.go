package auditlog

import (
	"errors"
	"strings"
	"testing"

	tlog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/tongxing/tongxing/auditlog/sm2note"
)

func TestCheckpointSignOpen(t *testing.T) {
	k := newKeys(t)
	root := Hasher{}.HashLeaf([]byte("root"))
	msg, err := k.signer.Sign(17, root)
	if err != nil {
		t.Fatal(err)
	}
	body := testOrigin + "\n17\n"
	if !strings.HasPrefix(string(msg), body) {
		t.Fatalf("checkpoint body is not origin/size/root:\n%s", msg)
	}
	edv := k.edVerifier(t)
	other := newKeys(t)
	otherOrigin, err := NewCheckpointSigner("other.example/log", k.sm2, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgOther, _ := otherOrigin.Sign(17, root)

	tests := []struct {
		name  string
		msg   []byte
		v     note.Verifier
		other []note.Verifier
	}{
		{"ok/sm2", msg, k.signer.Verifier(), nil},
		{"ok/sm2-and-ed25519", msg, k.signer.Verifier(), []note.Verifier{edv}},
		{"ok/ed25519-only", msg, edv, nil},
		{"fail/other-key", msg, other.signer.Verifier(), nil},
		{"fail/origin-mismatch", msgOther, k.signer.Verifier(), nil},
		{"fail/changed-size", []byte(strings.Replace(string(msg), "\n17\n", "\n18\n", 1)), k.signer.Verifier(), nil},
		{"fail/too-long", append(msg, make([]byte, MaxCheckpointSize)...), k.signer.Verifier(), nil},
		{"fail/nil-verifier", msg, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := OpenCheckpoint(tc.msg, tc.v, tc.other...)
			if strings.HasPrefix(tc.name, "fail/") {
				if !errors.Is(err, ErrCheckpoint) {
					t.Fatalf("err = %v, want ErrCheckpoint", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cp.Origin != testOrigin || cp.Size != 17 || string(cp.Root) != string(root) {
				t.Fatalf("got %+v", cp)
			}
		})
	}
}

// TestCheckpointStandardTooling opens a checkpoint with transparency-dev's
// parser and only the standard Ed25519 verifier, as generic tooling would,
// and with the SM2 verifier key string.
func TestCheckpointStandardTooling(t *testing.T) {
	k := newKeys(t)
	root := Hasher{}.EmptyRoot()
	msg, err := k.signer.Sign(0, root)
	if err != nil {
		t.Fatal(err)
	}
	edv := k.edVerifier(t)
	cp, _, n, err := tlog.ParseCheckpoint(msg, testOrigin, edv)
	if err != nil {
		t.Fatalf("standard tooling rejects the checkpoint: %v", err)
	}
	if cp.Size != 0 || string(cp.Hash) != string(root) || len(n.UnverifiedSigs) != 1 {
		t.Fatalf("checkpoint %+v, note %+v", cp, n)
	}
	skey, err := sm2note.VerifierKey(testOrigin, &k.sm2.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := sm2note.NewVerifierFromKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := tlog.ParseCheckpoint(msg, testOrigin, sv); err != nil {
		t.Fatalf("SM2 verifier from key string: %v", err)
	}
}

func TestCheckpointSignerRejects(t *testing.T) {
	k := newKeys(t)
	tests := []struct {
		name   string
		origin string
		sm2    bool
		ed     bool
	}{
		{"fail/space-in-origin", "audit log", true, false},
		{"fail/plus-in-origin", "a+b", true, false},
		{"fail/ed25519-as-sm2", testOrigin, false, false},
		{"fail/sm2-as-ed25519", testOrigin, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			switch {
			case tc.sm2 && tc.ed:
				_, err = NewCheckpointSigner(tc.origin, k.sm2, k.sm2)
			case tc.sm2:
				_, err = NewCheckpointSigner(tc.origin, k.sm2, nil)
			default:
				_, err = NewCheckpointSigner(tc.origin, k.ed, nil)
			}
			if !errors.Is(err, sm2note.ErrInvalidKey) {
				t.Fatalf("err = %v, want ErrInvalidKey", err)
			}
		})
	}
	if _, err := k.signer.Sign(1, []byte("short")); err == nil {
		t.Fatal("signed a short root")
	}
}
