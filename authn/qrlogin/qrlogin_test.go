package qrlogin

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store/storetest"
)

// revoked is a revocation table: the serials listed are revoked.
type revoked map[string]bool

func (r revoked) CheckRevocation(_ context.Context, cert, _ *smx509.Certificate, _ time.Time) error {
	if r[cert.SerialNumber.Text(16)] {
		return errors.New("revoked")
	}
	return nil
}

type card struct {
	chain []byte
	key   crypto.Signer
	cert  *smx509.Certificate
}

func newCard(t *testing.T, issuing *testpki.Cert) card {
	t.Helper()
	key := testpki.Key(t, kms.GM)
	c := issuing.IssueTo(t, key.Public(), "张三", testpki.Subject(pkix.Name{CommonName: "张三", Country: []string{"CN"}, SerialNumber: strings.Repeat("ab", 32)}),
		testpki.KeyUsage(smx509.KeyUsageDigitalSignature), testpki.EKU(smx509.ExtKeyUsageClientAuth))
	return card{chain: testpki.PEM(c, issuing.Cert), key: key, cert: c}
}

func TestScanToSignIn(t *testing.T) {
	db := storetest.SQLite(t)
	root := testpki.NewRoot(t, kms.GM, "Test Root")
	issuing := root.NewCA(t, "Test Issuing CA")
	other := testpki.NewRoot(t, kms.GM, "Elsewhere").NewCA(t, "Elsewhere Issuing")
	rev := revoked{}
	srv := httptest.NewUnstartedServer(nil)
	issuer := "https://" + srv.Listener.Addr().String()
	s, err := New(db, issuer, certlogin.VerifyOptions{Roots: testpki.Pool(root.Cert), Revocation: rev}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux, "")
	srv.Config.Handler = mux
	srv.StartTLS()
	defer srv.Close()
	hc := srv.Client()
	ctx := context.Background()

	ch, err := s.Challenge(ctx, "login-1", "税务门户")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Challenge(ctx, "login-1", "税务门户")
	if err != nil || again.ID() != ch.ID() {
		t.Fatalf("second call for the same login made another challenge: %v", err)
	}
	u := s.URL(ch.ID())
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	var offer Offer
	json.NewDecoder(resp.Body).Decode(&offer)
	resp.Body.Close()
	got, err := certlogin.ParseChallenge(offer.Challenge)
	if resp.StatusCode != 200 || err != nil || got.ID() != ch.ID() || offer.Portal != "税务门户" || offer.Origin != issuer {
		t.Fatalf("offer %d %+v %v", resp.StatusCode, offer, err)
	}

	good := newCard(t, issuing)
	stranger := newCard(t, other)
	gone := newCard(t, issuing)
	rev[gone.cert.SerialNumber.Text(16)] = true
	post := func(id string, c card, sign *certlogin.Challenge) (int, string) {
		sig, err := certlogin.Sign(sign, c.key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(&certlogin.LoginRequest{ChallengeID: sign.ID(), ChainPEM: c.chain, Signature: sig})
		r, err := hc.Post(s.URL(id), "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		body, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(body)
	}
	otherCh, _ := s.Challenge(ctx, "login-2", "x")
	for _, tc := range []struct {
		name   string
		c      card
		sign   *certlogin.Challenge
		status int
		want   string
	}{
		{"fail/untrusted-issuer", stranger, ch, 403, "refused"},
		{"fail/revoked", gone, ch, 403, "refused"},
		{"fail/another-challenge-signed", good, otherCh, 400, "not a login request for this challenge"},
		{"ok/card", good, ch, 200, "signed"},
		{"fail/signed-twice", good, ch, 409, "already signed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(ch.ID(), tc.c, tc.sign)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s, want %d %q", status, body, tc.status, tc.want)
			}
		})
	}
	for _, bad := range []string{"{", strings.Repeat("x", certlogin.MaxLoginRequestSize+10)} {
		r, _ := hc.Post(s.URL(otherCh.ID()), "application/json", strings.NewReader(bad))
		if r.StatusCode != 400 {
			t.Errorf("malformed body: %d", r.StatusCode)
		}
		r.Body.Close()
	}
	if r, _ := hc.Get(s.URL("AAAA")); r.StatusCode != 404 {
		t.Errorf("unknown challenge: %d", r.StatusCode)
	}

	chain, sig, err := s.Signed(ctx, ch.ID())
	if err != nil || !bytes.Equal(chain, good.chain) || len(sig) == 0 {
		t.Fatalf("Signed: %v", err)
	}
	if _, sig, _ := s.Signed(ctx, otherCh.ID()); sig != nil {
		t.Error("an unsigned challenge reads as signed")
	}
	// The provider's verification marks it used, once.
	opts := certlogin.VerifyOptions{Roots: testpki.Pool(root.Cert), Revocation: rev, Used: s, Now: time.Now()}
	if _, err := certlogin.Verify(ctx, ch, chain, sig, opts); err != nil {
		t.Fatalf("verify with MarkUsed: %v", err)
	}
	if _, err := certlogin.Verify(ctx, ch, chain, sig, opts); err == nil {
		t.Error("a used challenge verified twice")
	}
	if _, sig, _ := s.Signed(ctx, ch.ID()); sig != nil {
		t.Error("a used challenge still reads as signed")
	}
	if ok, _ := s.MarkUsed(ctx, otherCh.ID(), time.Time{}); ok {
		t.Error("an unsigned challenge was marked used")
	}

	// An expired challenge is replaced for its login and purged.
	s.now = func() time.Time { return time.Now().Add(TTL + time.Minute) }
	fresh, err := s.Challenge(ctx, "login-2", "x")
	if err != nil || fresh.ID() == otherCh.ID() {
		t.Fatalf("expired challenge not replaced: %v", err)
	}
	if n, err := s.Purge(ctx); err != nil || n != 1 {
		t.Errorf("purge removed %d (%v), want the one expired challenge of login-1", n, err)
	}
}

func TestWaitPage(t *testing.T) {
	s, err := New(storetest.SQLite(t), "https://tongxing.example", certlogin.VerifyOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.Challenge(context.Background(), "login-1", "<b>门户</b>")
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	s.Wait(w, httptest.NewRequest("GET", "/login/qr?login=login-1", nil), ch, "<b>门户</b>", "/login/qr?login=login-1", "")
	body := w.Body.String()
	for _, want := range []string{`id="qr-code" src="data:image/png;base64,`, "https://tongxing.example/login/qr/v1/" + ch.ID(), "&lt;b&gt;门户&lt;/b&gt;", "location.replace"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	w = httptest.NewRecorder()
	s.Wait(w, httptest.NewRequest("GET", "/login/qr?login=login-1", nil), ch, "p", "", "refused: revoked")
	if strings.Contains(w.Body.String(), "location.replace") || !strings.Contains(w.Body.String(), "refused: revoked") {
		t.Error("a refusal page keeps reloading or hides the refusal")
	}
}
