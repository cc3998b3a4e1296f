package console

import (
	"context"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp"
)

// entryLog holds one entry and the tokens kept beside the log.
type entryLog struct {
	unused
	entry  auditlog.Entry
	tokens map[string][]byte
}

func (l *entryLog) Entry(context.Context, uint64) (auditlog.Entry, error) { return l.entry, nil }
func (l *entryLog) Token(_ context.Context, ref string) ([]byte, error) {
	if der, ok := l.tokens[ref]; ok {
		return der, nil
	}
	return nil, auditlog.ErrNotFound
}

// newTSA is a test TSA and its root.
func newTSA(t *testing.T) (*timestamp.Authority, *testpki.TSA) {
	t.Helper()
	p := testpki.NewTSA(t, kms.GM, testpki.TSAOptions{Name: "Test TSA", NotAfter: time.Now().Add(24 * time.Hour)})
	tsa, err := timestamp.NewAuthority(p.LeafKey, p.Chain(), timestamp.WithPolicy(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 1, 1}))
	if err != nil {
		t.Fatal(err)
	}
	return tsa, p
}

// stamp is a token of tsa over digest and its reference.
func stamp(t *testing.T, tsa *timestamp.Authority, digest []byte) ([]byte, string) {
	t.Helper()
	tok, err := tsa.Timestamp(context.Background(), digest, timestamp.SM3, timestamp.TokenOptions{CertReq: true})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Raw, "tsa:serial:" + tok.Info.SerialNumber.Text(16)
}

func TestEntryTimestampToken(t *testing.T) {
	digest := sha256.Sum256([]byte("GET /gw/renshe/v1/insurance"))
	other := sha256.Sum256([]byte("another request"))
	trusted, tsa := newTSA(t)
	stranger, _ := newTSA(t)
	der, ref := stamp(t, trusted, digest[:])
	otherDER, otherRef := stamp(t, stranger, digest[:])
	overOther, overOtherRef := stamp(t, trusted, other[:])
	for _, tc := range []struct {
		name   string
		ref    string
		tokens map[string][]byte
		want   []string
	}{
		{"ok/verified", ref, map[string][]byte{ref: der}, []string{`id="entry-stamp"`, ref[len("tsa:serial:"):], "Test TSA", "SM3"}},
		{"ok/no-token-referenced", "", nil, nil},
		{"fail/not-kept", ref, nil, []string{"未保存该令牌"}},
		{"fail/untrusted-tsa", otherRef, map[string][]byte{otherRef: otherDER}, []string{`id="entry-stamp-verdict" role="alert"`}},
		{"fail/other-digest", overOtherRef, map[string][]byte{overOtherRef: overOther}, []string{`id="entry-stamp-verdict" role="alert"`}},
		{"fail/other-serial", "tsa:serial:ff", map[string][]byte{"tsa:serial:ff": der}, []string{"令牌的序列号与条目引用不符"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.c.d.TSARoots = testpki.Pool(tsa.Root)
			f.c.d.Audit = &entryLog{tokens: tc.tokens, entry: auditlog.Entry{Index: 7, Time: f.now, Action: "gateway.call", Outcome: "403",
				Actor: auditlog.Actor{Subject: "spiffe://x/tax/api"}, Decision: auditlog.DecisionDeny, Reasons: []string{"no agreement"},
				RequestDigest: hex.EncodeToString(digest[:]), TimestampToken: tc.ref}}
			w := f.do("GET", "/console/audit/entries/7", f.cookie(t, "u-aud", "aud", access.RoleAuditor, time.Minute, time.Minute), nil)
			body := w.Body.String()
			if w.Code != http.StatusOK {
				t.Fatalf("%d\n%s", w.Code, body)
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("entry page lacks %q", s)
				}
			}
			if verified := strings.Contains(body, `id="entry-stamp"`); verified != strings.HasPrefix(tc.name, "ok/verified") {
				t.Errorf("token shown as verified: %v", verified)
			}
			if tc.ref == "" && strings.Contains(body, "entry-stamp") {
				t.Error("a token section for an entry without one")
			}
		})
	}
}
