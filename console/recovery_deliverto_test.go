package console

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/ca/kmc"
)

// oneRecovery is a KMC with one open recovery.
type oneRecovery struct {
	unused
	r *kmc.Recovery
}

func (o oneRecovery) Recoveries(_ context.Context, st kmc.Status) ([]*kmc.Recovery, error) {
	if st == o.r.Status {
		return []*kmc.Recovery{o.r}, nil
	}
	return nil, nil
}

// TestRecoveryShowsDeliverTo: an approver on the console must see which
// key the recovered private key will be enveloped to; otherwise a
// requesting officer names a key of their own and two approvers who only
// see a serial and a reason hand them a subscriber's encryption key.
func TestRecoveryShowsDeliverTo(t *testing.T) {
	f := newFixture(t)
	attacker, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := smx509.MarshalPKIXPublicKey(&attacker.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	f.c.d.Recovery = oneRecovery{r: &kmc.Recovery{ID: "rcv_0123456789abcdef", EncSerial: "4209", RequestedBy: "officer:mallory",
		Reason: "subscriber lost the key; ticket 1234", DeliverTo: spki, Status: kmc.StatusRequested, Approvals: []kmc.Approval{},
		CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}}
	ra := f.cookie(t, "u-ra", "reg", access.RoleRA, time.Minute, time.Minute)
	w := f.do("GET", "/console/ra/recoveries", ra, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if fp := kmc.KeyFingerprint(spki); !strings.Contains(w.Body.String(), fp) {
		t.Fatalf("the approval page does not show the deliver-to key %s: approvers approve without seeing where the key goes", fp)
	}
}
