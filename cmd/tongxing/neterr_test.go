package main

import (
	"crypto/rand"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// TestExplain: a client command that cannot talk to the server says why
// and what to do, for each way it fails before an answer.
func TestExplain(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "https://" + closed.Addr().String()
	closed.Close()
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	defer untrusted.Close()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()

	for _, tt := range []struct {
		name, server, says string
	}{
		{"fail/connection-refused", refused, "the Tongxing server is not reachable at " + refused + ": is `tongxing serve` running"},
		{"fail/unknown-authority", untrusted.URL, "pass --cacert DATA/pki/intl-root.crt"},
		{"fail/plain-http", "https://" + strings.TrimPrefix(plain.URL, "http://"), "answers plain HTTP"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, cmd := testCommand(t, t.TempDir())
			c, err := g.client(cmd, &clientFlags{server: tt.server}, "")
			if err != nil {
				t.Fatal(err)
			}
			var out any
			err = c.do(cmd, "GET", "/healthz", nil, &out)
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("err %v, want it to say %q", err, tt.says)
			}
			if strings.HasPrefix(err.Error(), "Get ") {
				t.Errorf("the message starts with net/http's prefix: %v", err)
			}
			if tt.name == "fail/connection-refused" && !notSent(err) {
				t.Error("a refused connection counts as a lost answer (retried)")
			}
		})
	}
	t.Run("fail/sm2-root", func(t *testing.T) {
		dir := t.TempDir()
		root := filepath.Join(dir, "gm-root.crt")
		os.WriteFile(root, sm2RootPEM(t), 0o644)
		g, cmd := testCommand(t, dir)
		_, err := g.client(cmd, &clientFlags{server: untrusted.URL, cacert: root}, "")
		if err == nil || !strings.Contains(err.Error(), "SM2 roots cannot secure HTTPS") || !strings.Contains(err.Error(), "intl-root.crt") {
			t.Fatalf("err %v", err)
		}
	})
}

func sm2RootPEM(t *testing.T) []byte {
	t.Helper()
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &smx509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: smx509.KeyUsageCertSign}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
