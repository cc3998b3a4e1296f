package certlogin

import (
	"bytes"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// FuzzParseChain checks that parseChain accepts only inputs within the
// limits, returns 1 to MaxChainCerts certificates whose DER appears in the
// input's PEM blocks, and wraps ErrChain on every refusal.
func FuzzParseChain(f *testing.F) {
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &smx509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fuzz"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Unix(1<<31, 0),
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	one := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	f.Add(one)
	f.Add(append(append([]byte("\r\n"), one...), one...))
	f.Add(append([]byte("junk"), one...))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"a": "b"}, Bytes: der}))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := parseChain(b)
		if err != nil {
			if certs != nil || !errors.Is(err, ErrChain) {
				t.Fatalf("refusal %v does not wrap ErrChain or returned certificates", err)
			}
			return
		}
		if len(b) > MaxChainSize || len(certs) == 0 || len(certs) > MaxChainCerts {
			t.Fatalf("accepted %d bytes with %d certificates", len(b), len(certs))
		}
		var blocks [][]byte
		for rest := b; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			blocks = append(blocks, blk.Bytes)
		}
		if len(blocks) != len(certs) {
			t.Fatalf("%d certificates from %d PEM blocks", len(certs), len(blocks))
		}
		for i, c := range certs {
			if !bytes.Equal(c.Raw, blocks[i]) {
				t.Fatalf("certificate %d is not the DER of block %d", i, i)
			}
		}
	})
}
