package portal

import (
	"crypto/x509/pkix"
	"slices"
	"testing"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
)

// An enterprise sees the certificates of its own organisation only: not
// those of one whose name contains its own (the inventory's subject search
// matches substrings), nor those of another enterprise of the same name
// (another credit code).
func TestOfEnterprise(t *testing.T) {
	const own, otherCode = "91350100M000100Y43", "91310115591693856A"
	issuer := testpki.NewRoot(t, kms.GM, "Test gm root")
	rec := func(serial, uscc string, org ...string) *ca.Record {
		withCode := func(c *smx509.Certificate) {
			if uscc != "" {
				ext, err := ident.USCCExtension(uscc)
				if err != nil {
					t.Fatal(err)
				}
				c.ExtraExtensions = append(c.ExtraExtensions, ext)
			}
		}
		c := issuer.Issue(t, "李四", testpki.Subject(pkix.Name{CommonName: "李四", Organization: org}), withCode)
		return &ca.Record{Serial: serial, DER: c.Cert.Raw}
	}
	recs := []*ca.Record{rec("own", own, "福州示例"), rec("longer", own, "福州示例科技有限公司"), rec("padded", own, "福州示例 "),
		rec("none", own), rec("same-name-other-code", otherCode, "福州示例"), rec("no-code", "", "福州示例"), {Serial: "bad-der", DER: []byte("x")}}
	for _, tc := range []struct {
		uscc string
		want []string
	}{
		{own, []string{"own"}},
		{"", []string{"own", "same-name-other-code", "no-code"}},
	} {
		var got []string
		for _, r := range ofEnterprise(recs, "福州示例", tc.uscc) {
			got = append(got, r.Serial)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("credit code %q: kept %v, want %v", tc.uscc, got, tc.want)
		}
	}
}
