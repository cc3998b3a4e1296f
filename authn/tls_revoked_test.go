package authn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// A department service authenticating with tls_client_auth must lose
// access when its certificate is revoked (e.g. key compromise): the
// listener verifies only the chain and validity, so the provider must ask
// the CA about revocation, as certificate login does.
func TestTLSClientAuthRevokedCertificate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		me := newMTLSEnv(t, db)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		iss, err := me.ca.Issue(t.Context(), ca.IssueRequest{PublicKey: key.Public(), Profile: "citizen-login",
			Subject: ca.Subject{Name: "张三", IDNumber: testCitizenID}, RequestedBy: "officer:test"})
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		cert := tls.Certificate{Certificate: [][]byte{iss.Certificate.Raw}, PrivateKey: key}
		for _, c := range iss.Chain {
			cert.Certificate = append(cert.Certificate, c.Raw)
		}
		leaf, err := x509.ParseCertificate(iss.Certificate.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := me.p.AddClient(t.Context(), ClientConfig{ID: "svc-tls-rev", Name: "服务", Department: "dept:civil-affairs",
			TargetDepartments: []string{deptSocial}, SectorIdentifier: "svc.gov.test", TokenEndpointAuthMethod: AuthTLSClientAuth,
			TLSClientAuthSubjectDN: leaf.Subject.String()}); err != nil {
			t.Fatalf("AddClient: %v", err)
		}
		post := func() (int, map[string]any) {
			tr := me.srv.Client().Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
			form := url.Values{"grant_type": {GrantClientCredentials}, "client_id": {"svc-tls-rev"}, "scope": {deptSocial}}
			req, err := http.NewRequest(http.MethodPost, me.issuer+pathToken, strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return jsonAnswer(t, &http.Client{Transport: tr}, req)
		}
		if st, m := post(); st != http.StatusOK {
			t.Fatalf("before revocation: %d %v", st, m)
		}
		if _, err := me.ca.SetStatus(t.Context(), ca.StatusChange{Serial: iss.Record.Serial, To: ca.StatusRevoked,
			Reason: ca.ReasonKeyCompromise, Actor: "officer:test"}); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		me.clk.Advance(time.Second)
		if st, m := post(); st != http.StatusUnauthorized || m["error"] != "invalid_client" {
			t.Fatalf("revoked certificate still authenticates the client: %d %v", st, m)
		}
	})
}
