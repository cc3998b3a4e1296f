package gateway

import (
	"bufio"
	"context"
	"crypto"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/go-jose/go-jose/v4"

	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/department"
)

// front serves the gateway over real HTTP/1.1, every request as the mTLS
// caller dept/api, for what a recorder cannot show (trailers, 1xx).
func front(t *testing.T, e *env, dept string) *httptest.Server {
	t.Helper()
	return newFront(t, e, dept, false)
}

// frontH2 is front over TLS with HTTP/2.
func frontH2(t *testing.T, e *env, dept string) *httptest.Server {
	t.Helper()
	return newFront(t, e, dept, true)
}

func newFront(t *testing.T, e *env, dept string, h2 bool) *httptest.Server {
	t.Helper()
	st := e.pki.leaf(t, dept, "api")
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.TLS = st
		e.h.ServeHTTP(w, r)
	}))
	if h2 {
		s.EnableHTTP2 = true
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// A caller's request trailers would reach the upstream past cleanHeaders:
// the body, read whole, is forwarded with a length and without them.
func TestCallerTrailersNotForwarded(t *testing.T) {
	e := newEnv(t)
	type seen struct {
		trailer http.Header
		te      []string
		caller  string
		length  int64
	}
	got := make(chan seen, 1)
	e.respond = func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- seen{r.Trailer.Clone(), r.TransferEncoding, r.Header.Get(HeaderCaller), r.ContentLength}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"year":2025}`))
	}
	s := front(t, e, "tax")
	conn, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET /gw/gongan/v1/statistics/population HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n" +
		"Trailer: Tongxing-Caller, Authorization, Cookie, X-Forwarded-For\r\n\r\n" +
		"1\r\nA\r\n0\r\nTongxing-Caller: forged\r\nAuthorization: Bearer stolen\r\nCookie: sid=1\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	e.g.Wait(context.Background())
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	<-e.hits
	<-e.bodies
	up := <-got
	if len(up.trailer) != 0 || len(up.te) != 0 || up.length != 1 || up.caller == "forged" || up.caller == "" {
		t.Fatalf("the upstream got trailers %v, transfer encoding %v, length %d, Tongxing-Caller %q", up.trailer, up.te, up.length, up.caller)
	}
}

// The citizen a resource is about is named by an ID number in its one
// written form; anything else could reach other records upstream while
// the citizen's access log never shows the call.
func TestCitizenValueMustBeAnIDNumber(t *testing.T) {
	e := newEnv(t)
	for _, v := range []string{
		"%25", "%20", "*", "11010519491231002x", idNumber + ".json", idNumber + "%20", "%20" + idNumber,
		idNumber + ";jsessionid=1", "..;", "11010519491231002Y", "110105194912310020",
		"%EF%BC%91%EF%BC%91%EF%BC%90%EF%BC%91%EF%BC%90%EF%BC%95%EF%BC%91%EF%BC%99%EF%BC%94%EF%BC%99%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%91%EF%BC%90%EF%BC%90%EF%BC%92X",
	} {
		w := e.call(t, "tax", "GET", "/gw/renshe/v1/insurance/"+v, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, "")
		if w.Code < 400 || w.Code >= 500 {
			t.Errorf("%q: %d %s", v, w.Code, w.Body)
		}
	}
	noHit(t, e)
	if w := e.call(t, "tax", "GET", "/gw/renshe/v1/insurance/"+idNumber, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, ""); w.Code != 200 {
		t.Fatalf("a valid ID number: %d %s", w.Code, w.Body)
	}
}

// otherID is a second valid citizen ID number.
const otherID = "110101199003071233"

// Query strings that parsers split differently are refused before the
// policy, since the query is forwarded as given: a ';' (a separator to
// some servers, part of a value to Go), pairs Go cannot unescape (which it
// drops and lenient servers read: a stray '%', ASP.NET's %uXXXX), and the
// citizen's parameter under a name that servers read as the same (case,
// PHP's '.', ' ' and '[' read as '_', an "[]" array suffix); and for a
// resource that names its citizen in the path, that parameter in the
// query, where an upstream that reads or merges it would find a second
// citizen.
func TestAmbiguousQueriesRefused(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Now = func() time.Time { return time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC) } })
	for _, path := range []string{
		"/gw/renshe/v1/pensions?a=b;id_number=" + otherID + "&id_number=" + idNumber,
		"/gw/renshe/v1/pensions?id_number=" + idNumber + "&ID_NUMBER=" + otherID,
		"/gw/renshe/v1/pensions?Id_Number=" + otherID,
		"/gw/renshe/v1/pensions?id_number=" + idNumber + "&id_number=" + otherID + "%",
		"/gw/renshe/v1/pensions?id_number=" + idNumber + "&id%u005Fnumber=" + otherID,
		"/gw/renshe/v1/pensions?id_number=%u0031" + otherID[1:],
		"/gw/renshe/v1/pensions?id_number=" + idNumber + "&id.number=" + otherID,
		"/gw/renshe/v1/pensions?id_number=" + idNumber + "&id+number=" + otherID,
		"/gw/renshe/v1/pensions?id_number=" + idNumber + "&id_number%5B%5D=" + otherID,
		"/gw/renshe/v1/pensions?id_number%5B0%5D=" + otherID,
		"/gw/renshe/v1/insurance/" + idNumber + "?id_number=" + otherID,
		"/gw/renshe/v1/insurance/" + idNumber + "?ID.NUMBER=" + otherID,
		"/gw/gongan/v1/statistics/population?a=%zz",
	} {
		w := e.call(t, "tax", "GET", path, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, "")
		if w.Code != 400 {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
	}
	noHit(t, e)
	for _, path := range []string{
		"/gw/renshe/v1/pensions?id_number=" + idNumber,
		"/gw/renshe/v1/pensions?id_number=" + idNumber + "&year=2024&id_numbers=x",
		"/gw/renshe/v1/insurance/" + idNumber + "?year=2024",
	} {
		if w := e.call(t, "tax", "GET", path, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, ""); w.Code != 200 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		<-e.hits
		<-e.bodies
	}
}

// A call acting for one citizen (token exchange) cannot name another in
// the query of a resource that names its citizen in the path: the policy's
// check that the two are the same would see only the path.
func TestActingForOneCitizenQueryNamesAnother(t *testing.T) {
	toks := fakeTokens{"exchange": {JTI: "2", Client: "tax-svc", Department: "tax", Subject: "pairwise", Act: "tax-svc",
		Audience: []string{"renshe"}, UserID: "u-1", CitizenIDPseudonym: ident.Pseudonym(citizenKey, idNumber), ExpiresAt: time.Now().Add(time.Hour)}}
	e := newEnv(t, func(c *Config) { c.Tokens = toks })
	r := httptest.NewRequest("GET", "/gw/renshe/v1/insurance/"+idNumber+"?id_number="+otherID, nil)
	r.Header.Set("Authorization", "Bearer exchange")
	r.Header.Set(HeaderPurpose, "P-IIT-VERIFY")
	w := httptest.NewRecorder()
	e.serve(w, r)
	if w.Code != 400 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	noHit(t, e)
}

// An upstream's informational response (103 Early Hints) is not passed on,
// the final status is the one audited, and the caller keeps the evidence
// headers.
func TestUpstreamInformationalResponse(t *testing.T) {
	e := newEnv(t)
	e.respond = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</internal/x>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"year":2025}`))
	}
	s := front(t, e, "tax")
	var early []int
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error { early = append(early, code); return nil },
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/gw/gongan/v1/statistics/population", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	e.g.Wait(context.Background())
	<-e.hits
	<-e.bodies
	if resp.StatusCode != 200 || len(early) != 0 || resp.Header.Get("Link") != "" {
		t.Fatalf("status %d, informational %v, Link %q: %s", resp.StatusCode, early, resp.Header.Get("Link"), body)
	}
	if resp.Header.Get(HeaderAuditIndex) == "" || resp.Header.Get(HeaderTimestamp) == "" {
		t.Fatalf("evidence headers lost: %v", resp.Header)
	}
	all := e.log.all()
	if last := all[len(all)-1]; last.Action != ActionResult || last.Outcome != "200" {
		t.Fatalf("result entry %s %s", last.Action, last.Outcome)
	}
}

// A key set, however it was obtained, is trusted only as far as its x5c
// chain vouches for it.
func TestCheckKeys(t *testing.T) {
	pki, other := newServicePKI(t), newServicePKI(t)
	// keySet is the JWKS of a caller-token key certified for dept/svc by p.
	keySet := func(p *servicePKI, dept, svc string, withChain bool) (jose.JSONWebKeySet, crypto.Signer) {
		u, _ := url.Parse(department.SPIFFEID(trustDomain, dept, svc))
		l := p.ca.Issue(t, svc, func(c *smx509.Certificate) { c.URIs = []*url.URL{u} })
		var chain []*x509.Certificate
		if withChain {
			leaf, _ := x509.ParseCertificate(l.Cert.Raw)
			chain = []*x509.Certificate{leaf, p.root}
		}
		s, err := NewCallerSigner(l.Key, chain)
		if err != nil {
			t.Fatal(err)
		}
		return s.KeySet(), l.Key
	}
	roots := x509.NewCertPool()
	roots.AddCert(pki.root)
	now := time.Now()
	good, _ := keySet(pki, "tongxing", CallerKeyService, true)
	if err := CheckKeys(good, roots, trustDomain, now); err != nil {
		t.Fatalf("the gateway's own key set: %v", err)
	}
	swapped, _ := keySet(pki, "tongxing", CallerKeyService, true)
	_, otherKey := keySet(pki, "tongxing", CallerKeyService, true)
	swapped.Keys[0].Key = otherKey.Public()
	noChain, _ := keySet(pki, "tongxing", CallerKeyService, false)
	service, _ := keySet(pki, "tax", "api", true)
	foreign, _ := keySet(other, "tongxing", CallerKeyService, true)
	for name, tc := range map[string]struct {
		set  jose.JSONWebKeySet
		want string
	}{
		"no-chain":        {noChain, "no certificate chain"},
		"another-key":     {swapped, "not the key of its certificate"},
		"another-service": {service, "names"},
		"another-root":    {foreign, "does not chain"},
		"empty":           {jose.JSONWebKeySet{}, "holds no key"},
	} {
		if err := CheckKeys(tc.set, roots, trustDomain, now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
