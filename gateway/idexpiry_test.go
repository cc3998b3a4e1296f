package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/internal/testpki"
)

// A service certificate verified at the TLS handshake, on a keep-alive
// connection that outlives the certificate's notAfter, must stop
// identifying the caller once it has expired: Go verifies the chain only
// at the handshake.
func TestExpiredCertificateOnOpenConnection(t *testing.T) {
	e := newEnv(t)
	u, _ := url.Parse(department.SPIFFEID(trustDomain, "tax", "api"))
	// The state of a connection whose handshake was when the certificate
	// was valid: Go does not verify it again.
	conn := func(notBefore, notAfter time.Time) *tls.ConnectionState {
		l := e.pki.ca.Issue(t, "api", testpki.Subject(pkix.Name{CommonName: "api"}), testpki.EKU(smx509.ExtKeyUsageClientAuth),
			testpki.Valid(notBefore, notAfter), func(c *smx509.Certificate) { c.URIs = []*url.URL{u} })
		c, err := x509.ParseCertificate(l.Cert.Raw)
		if err != nil {
			t.Fatal(err)
		}
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c, e.pki.root}}}
	}
	call := func(cs *tls.ConnectionState) int {
		r := httptest.NewRequest("GET", "/gw/gongan/v1/statistics/population", nil)
		r.TLS = cs
		w := httptest.NewRecorder()
		e.serve(w, r)
		return w.Code
	}
	now := time.Now()
	if code := call(conn(now.Add(-time.Hour), now.Add(time.Hour))); code != 200 {
		t.Fatalf("valid certificate: %d", code)
	}
	<-e.hits
	<-e.bodies
	if code := call(conn(now.Add(-48*time.Hour), now.Add(-24*time.Hour))); code != 401 {
		t.Fatalf("a certificate that expired a day ago still identifies the caller on the connection made with it: %d", code)
	}
}
