package main

import (
	"bytes"
	"crypto/rand"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca/kmc"
)

// TestPrintRecoveryShowsDeliverTo: what an approver approves is where the
// recovered key goes, so `recovery show` and `approve` print the SM3
// fingerprint of the deliver-to key.
func TestPrintRecoveryShowsDeliverTo(t *testing.T) {
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := smx509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	g := &globals{stdout: &out, stderr: &out}
	r := &kmc.RecoveryJSON{Recovery: &kmc.Recovery{ID: "rcv_0123456789abcdef", EncSerial: "4209", Status: kmc.StatusRequested,
		RequestedBy: "officer:ra-1", Reason: "ticket 1234", DeliverTo: spki, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)},
		DeliverTo: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})), RequiredApprovals: 2}
	if err := printRecovery(g, r, false); err != nil {
		t.Fatal(err)
	}
	if want := "deliver to: " + kmc.KeyFingerprint(spki); !strings.Contains(out.String(), want) {
		t.Fatalf("output lacks %q:\n%s", want, out.String())
	}
}
