package gateway

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/ca/ident"
)

// fakeTokens accepts the tokens it holds.
type fakeTokens map[string]*authn.ServiceToken

func (f fakeTokens) VerifyServiceToken(_ context.Context, tok string) (*authn.ServiceToken, error) {
	if st, ok := f[tok]; ok {
		return st, nil
	}
	return nil, authn.ErrTokenRejected
}

func TestTokenCallers(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	pseud := ident.Pseudonym(citizenKey, idNumber)
	toks := fakeTokens{
		"cc":       {JTI: "1", Client: "tax-svc", Department: "tax", Subject: "tax-svc", Audience: []string{"renshe", "gongan"}, ExpiresAt: exp},
		"exchange": {JTI: "2", Client: "tax-svc", Department: "tax", Subject: "pairwise", Act: "tax-svc", Audience: []string{"renshe"}, UserID: "u-1", CitizenIDPseudonym: pseud, ExpiresAt: exp},
		"other":    {JTI: "3", Client: "tax-svc", Department: "tax", Subject: "pairwise", Act: "tax-svc", Audience: []string{"renshe"}, UserID: "u-2", CitizenIDPseudonym: "someone-else", ExpiresAt: exp},
		"scjg":     {JTI: "4", Client: "scjg-svc", Department: "scjg", Subject: "scjg-svc", Audience: []string{"gongan"}, ExpiresAt: exp},
	}
	e := newEnv(t, func(c *Config) { c.Tokens = toks })
	send := func(tok, dept, path, purpose string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		if purpose != "" {
			r.Header.Set(HeaderPurpose, purpose)
		}
		if dept != "" {
			r.TLS = e.pki.leaf(t, dept, "api")
		}
		w := httptest.NewRecorder()
		e.serve(w, r)
		return w
	}
	t.Run("ok/client-credentials", func(t *testing.T) {
		w := send("cc", "", "/gw/gongan/v1/statistics/population", "")
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		r := <-e.hits
		<-e.bodies
		if r.Header.Get("Authorization") != "" {
			t.Fatal("the caller's bearer token was forwarded")
		}
		all := e.log.all()
		if all[len(all)-2].Actor.Subject != "client:tax-svc" {
			t.Fatalf("actor %+v", all[len(all)-2].Actor)
		}
	})
	t.Run("ok/token-exchange-for-the-named-citizen", func(t *testing.T) {
		w := send("exchange", "", "/gw/renshe/v1/insurance/"+idNumber, "P-IIT-VERIFY")
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		<-e.hits
		<-e.bodies
		all := e.log.all()
		call := all[len(all)-2]
		if call.CitizenHash != auditlog.CitizenHash(citizenKey, "u-1") || call.Purpose != "P-IIT-VERIFY" || call.Actor.Client != "tax-svc" {
			t.Fatalf("entry %+v", call)
		}
		if strings.Contains(call.Object.Resource, idNumber) || strings.Contains(string(mustCanon(t, call)), idNumber) {
			t.Fatalf("the ID number is in the audit entry: %s", mustCanon(t, call))
		}
	})
	t.Run("ok/certificate-names-citizen", func(t *testing.T) {
		w := e.call(t, "tax", "GET", "/gw/renshe/v1/insurance/"+idNumber, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, "")
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		<-e.hits
		<-e.bodies
		all := e.log.all()
		if all[len(all)-2].CitizenHash != NamedCitizenHash(citizenKey, pseud) {
			t.Fatalf("entry %+v", all[len(all)-2])
		}
	})
	for _, tc := range []struct {
		name, tok, dept, path, purpose string
		status                         int
		reason                         string
	}{
		{"fail/acting-for-another-citizen", "other", "", "/gw/renshe/v1/insurance/" + idNumber, "P-IIT-VERIFY", 403, "acts for one citizen but names another"},
		{"fail/audience", "exchange", "", "/gw/gongan/v1/statistics/population", "", 403, "not for department gongan"},
		{"fail/unknown-token", "nope", "", "/gw/gongan/v1/statistics/population", "", 401, "bearer token is invalid"},
		{"fail/certificate-and-token-disagree", "scjg", "tax", "/gw/gongan/v1/statistics/population", "", 401, "names department tax and the token department scjg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := send(tc.tok, tc.dept, tc.path, tc.purpose)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.reason) {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			noHit(t, e)
		})
	}
}

func mustCanon(t *testing.T, e auditlog.Entry) []byte {
	t.Helper()
	b, err := e.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
