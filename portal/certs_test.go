package portal

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
)

// An enterprise sees the certificates of its own organisation only, not
// those of one whose name contains its own (the inventory's subject
// search matches substrings).
func TestOfOrganisation(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rec := func(serial string, org ...string) *ca.Record {
		tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "李四", Organization: org},
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return &ca.Record{Serial: serial, DER: der}
	}
	recs := []*ca.Record{rec("own", "福州示例"), rec("longer", "福州示例科技有限公司"), rec("case", "福州示例 "), rec("none"), {Serial: "bad-der", DER: []byte("x")}}
	got := ofOrganisation(recs, "福州示例")
	if len(got) != 1 || got[0].Serial != "own" {
		t.Fatalf("kept %v", got)
	}
}
