package auditlog

import (
	"bytes"
	"testing"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestVerifyBundleKeyBindsOrigin: the origin of the log an auditor checks
// comes from the published configuration, not from the bundle. A bundle
// whose checkpoint is signed by the same SM2 audit key under another origin
// (the log before a public_url/origin change, or another instance sharing
// the key) is not evidence about this log.
func TestVerifyBundleKeyBindsOrigin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeys(t)
		s, err := NewCheckpointSigner("other.example/audit", k.sm2, k.ed)
		if err != nil {
			t.Fatal(err)
		}
		otherLog := &testKeys{sm2: k.sm2, ed: k.ed, signer: s}
		bundle := exportBundle(t, db, otherLog, 3, Query{})
		rep, err := VerifyBundleKey(bytes.NewReader(bundle), testOrigin, &k.sm2.PublicKey)
		if err == nil {
			t.Fatalf("bundle of origin %q accepted as one of %q (%d entries)", rep.Checkpoint.Origin, testOrigin, rep.Entries)
		}
		if _, err := VerifyBundleKey(bytes.NewReader(bundle), "other.example/audit", &k.sm2.PublicKey); err != nil {
			t.Fatal(err)
		}
	})
}
