package portal

import (
	"crypto/x509/pkix"
	"testing"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
)

// An enterprise sees the certificates of its own organisation only, not
// those of one whose name contains its own (the inventory's subject
// search matches substrings).
func TestOfOrganisation(t *testing.T) {
	issuer := testpki.NewRoot(t, kms.GM, "Test gm root")
	rec := func(serial string, org ...string) *ca.Record {
		c := issuer.Issue(t, "李四", testpki.Subject(pkix.Name{CommonName: "李四", Organization: org}))
		return &ca.Record{Serial: serial, DER: c.Cert.Raw}
	}
	recs := []*ca.Record{rec("own", "福州示例"), rec("longer", "福州示例科技有限公司"), rec("padded", "福州示例 "), rec("none"), {Serial: "bad-der", DER: []byte("x")}}
	got := ofOrganisation(recs, "福州示例")
	if len(got) != 1 || got[0].Serial != "own" {
		t.Fatalf("kept %v", got)
	}
}
