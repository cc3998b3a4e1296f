package sm2jws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongxing/tongxing/authn/sm2jws"
)

func TestStaticKeySet(t *testing.T) {
	k := newTestKey(t, "k1")
	other := newTestKey(t, "k2")
	keys, err := sm2jws.NewStaticKeySet(k.jwk, other.jwk)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"iss":"https://idp","sub":"u1"}`)
	hdr := map[string]any{"alg": "SM2", "kid": "k1", "typ": "JWT"}
	good := signRaw(t, k, hdr, payload)
	h, p, s := parts(t, good)
	sig := sigOf(t, good)
	flipped := bytes.Clone(sig)
	flipped[10] ^= 1
	tamperedHeader := b64.EncodeToString([]byte(`{"alg":"SM2","kid":"k1","typ":"JWS"}`)) + "." + p + "." + s
	tamperedPayload := h + "." + b64.EncodeToString([]byte(`{"iss":"https://idp","sub":"u2"}`)) + "." + s
	// The same signature under k2's kid: header differs, and the key differs.
	kidSwap := signRaw(t, k, map[string]any{"alg": "SM2", "kid": "k2"}, payload)
	rawPart := func(hdr string) string { return b64.EncodeToString([]byte(hdr)) }

	tests := []struct {
		name    string
		token   string
		wantErr error
	}{
		{name: "ok/valid", token: good},
		{name: "ok/whitespace-in-header-json", token: rawSigned(t, k, `{ "alg" : "SM2" , "kid" : "k1" }`, payload)},
		{name: "ok/empty-payload", token: signRaw(t, k, hdr, nil)},
		{name: "fail/wrong-key-for-kid", token: kidSwap, wantErr: sm2jws.ErrInvalidSignature},
		{name: "fail/tampered-header", token: tamperedHeader, wantErr: sm2jws.ErrInvalidSignature},
		{name: "fail/tampered-payload", token: tamperedPayload, wantErr: sm2jws.ErrInvalidSignature},
		{name: "fail/tampered-signature", token: withSig(t, good, flipped), wantErr: sm2jws.ErrInvalidSignature},
		{name: "fail/signature-63-bytes", token: withSig(t, good, sig[:63]), wantErr: sm2jws.ErrInvalidSignature},
		{name: "fail/signature-zero", token: withSig(t, good, make([]byte, 64)), wantErr: sm2jws.ErrInvalidSignature},
		{name: "fail/es256-header-sm2-signature", token: signRaw(t, k, map[string]any{"alg": "ES256", "kid": "k1"}, payload), wantErr: sm2jws.ErrAlgorithm},
		{name: "fail/alg-none-empty-signature", token: rawPart(`{"alg":"none","kid":"k1"}`) + "." + p + ".", wantErr: sm2jws.ErrAlgorithm},
		{name: "fail/alg-none-sm2-signature", token: signRaw(t, k, map[string]any{"alg": "none", "kid": "k1"}, payload), wantErr: sm2jws.ErrAlgorithm},
		{name: "fail/alg-lowercase", token: signRaw(t, k, map[string]any{"alg": "sm2", "kid": "k1"}, payload), wantErr: sm2jws.ErrAlgorithm},
		{name: "fail/alg-uppercase-member-name", token: rawSigned(t, k, `{"ALG":"SM2","kid":"k1"}`, payload), wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/alg-not-string", token: rawSigned(t, k, `{"alg":["SM2"],"kid":"k1"}`, payload), wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/alg-null", token: rawSigned(t, k, `{"alg":null,"kid":"k1"}`, payload), wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/no-kid", token: signRaw(t, k, map[string]any{"alg": "SM2"}, payload), wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/empty-kid", token: signRaw(t, k, map[string]any{"alg": "SM2", "kid": ""}, payload), wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/unknown-kid", token: signRaw(t, k, map[string]any{"alg": "SM2", "kid": "nope"}, payload), wantErr: sm2jws.ErrUnknownKey},
		{name: "fail/crit", token: signRaw(t, k, map[string]any{"alg": "SM2", "kid": "k1", "crit": []string{"exp"}, "exp": 1}, payload), wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/header-array", token: rawSigned(t, k, `[]`, payload), wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/header-null", token: rawSigned(t, k, `null`, payload), wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/header-trailing-garbage", token: rawSigned(t, k, `{"alg":"SM2","kid":"k1"}x`, payload), wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/two-parts", token: h + "." + p, wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/four-parts", token: good + ".", wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/json-serialization", token: `{"payload":"` + p + `","protected":"` + h + `","signature":"` + s + `"}`, wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/padded-signature", token: good + "=", wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/std-base64-signature", token: h + "." + p + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s) + "+", wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/whitespace", token: " " + good, wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/empty", token: "", wantErr: sm2jws.ErrMalformedJWS},
		{name: "fail/too-large", token: h + "." + b64.EncodeToString(bytes.Repeat([]byte("a"), sm2jws.MaxTokenSize)) + "." + s, wantErr: sm2jws.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keys.VerifySignature(t.Context(), tc.token)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				if got != nil {
					t.Fatal("payload returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifySignature: %v", err)
			}
			_, p, _ := parts(t, tc.token)
			want, _ := b64.DecodeString(p)
			if !bytes.Equal(got, want) {
				t.Fatalf("payload = %q, want %q", got, want)
			}
		})
	}
}

// rawSigned signs an exact header text.
func rawSigned(t *testing.T, k testKey, header string, payload []byte) string {
	t.Helper()
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString(payload)
	sig, err := sm2jws.SigningMethodSM2.Sign(input, k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

func TestNewStaticKeySet(t *testing.T) {
	k := newTestKey(t, "k1")
	noKid := k.jwk
	noKid.Kid = ""
	bad := k.jwk
	bad.Y = bad.X
	tests := []struct {
		name    string
		keys    []sm2jws.JWK
		wantErr error
	}{
		{name: "ok/one", keys: []sm2jws.JWK{k.jwk}},
		{name: "ok/none", keys: nil},
		{name: "fail/no-kid", keys: []sm2jws.JWK{noKid}, wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/duplicate-kid", keys: []sm2jws.JWK{k.jwk, k.jwk}, wantErr: sm2jws.ErrInvalidKey},
		{name: "fail/invalid-point", keys: []sm2jws.JWK{bad}, wantErr: sm2jws.ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sm2jws.NewStaticKeySet(tc.keys...)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// jwksServer serves a JWK Set that tests can replace, and counts requests.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	status int
	hits   atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...sm2jws.JWK) *jwksServer {
	s := &jwksServer{status: http.StatusOK}
	s.set(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(s.status)
		w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(t *testing.T, keys ...sm2jws.JWK) {
	t.Helper()
	b, err := json.Marshal(sm2jws.JWKSet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	s.setRaw(http.StatusOK, b)
}

func (s *jwksServer) setRaw(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestRemoteKeySet walks one key set through a sequence of steps; each step
// is a case, and the state (cache, clock, server) carries over.
func TestRemoteKeySet(t *testing.T) {
	k1 := newTestKey(t, "k1")
	k2 := newTestKey(t, "k2")
	srv := newJWKSServer(t, k1.jwk)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	keys := sm2jws.NewRemoteKeySet(context.Background(), srv.URL,
		sm2jws.WithClock(clock.now), sm2jws.WithMinRefreshInterval(time.Minute), sm2jws.WithHTTPClient(srv.Client()))
	payload := []byte(`{"sub":"u1"}`)
	tok1 := signRaw(t, k1, map[string]any{"alg": "SM2", "kid": "k1"}, payload)
	tok2 := signRaw(t, k2, map[string]any{"alg": "SM2", "kid": "k2"}, payload)
	tok1Forged := signRaw(t, k2, map[string]any{"alg": "SM2", "kid": "k1"}, payload)

	steps := []struct {
		name     string
		before   func()
		token    string
		wantErr  error
		wantHits int32
	}{
		{name: "ok/first-use-fetches", token: tok1, wantHits: 1},
		{name: "ok/cached", token: tok1, wantHits: 1},
		{name: "fail/wrong-key-no-refetch", token: tok1Forged, wantErr: sm2jws.ErrInvalidSignature, wantHits: 1},
		{name: "fail/unknown-kid-within-interval", token: tok2, wantErr: sm2jws.ErrUnknownKey, wantHits: 1},
		{name: "fail/unknown-kid-after-interval-refetches", before: func() { clock.add(61 * time.Second) }, token: tok2, wantErr: sm2jws.ErrUnknownKey, wantHits: 2},
		{name: "fail/unknown-kid-rate-limited-again", token: tok2, wantErr: sm2jws.ErrUnknownKey, wantHits: 2},
		{name: "ok/rotation-picked-up-after-interval", before: func() { srv.set(t, k1.jwk, k2.jwk); clock.add(61 * time.Second) }, token: tok2, wantHits: 3},
		{name: "fail/server-error-keeps-cache", before: func() { srv.setRaw(500, nil); clock.add(61 * time.Second) }, token: signRaw(t, k2, map[string]any{"alg": "SM2", "kid": "k3"}, payload), wantErr: sm2jws.ErrFetch, wantHits: 4},
		{name: "ok/cache-kept-after-failed-fetch", token: tok1, wantHits: 4},
		{name: "fail/oversized-set", before: func() {
			srv.setRaw(200, []byte(`{"keys":[],"pad":"`+strings.Repeat("a", sm2jws.MaxJWKSetSize)+`"}`))
			clock.add(61 * time.Second)
		}, token: signRaw(t, k2, map[string]any{"alg": "SM2", "kid": "k4"}, payload), wantErr: sm2jws.ErrTooLarge, wantHits: 5},
		{name: "fail/withdrawn-key-dropped-on-refetch", before: func() { srv.set(t, k2.jwk); clock.add(61 * time.Second) }, token: signRaw(t, k2, map[string]any{"alg": "SM2", "kid": "k5"}, payload), wantErr: sm2jws.ErrUnknownKey, wantHits: 6},
		{name: "fail/withdrawn-key-no-longer-verifies", token: tok1, wantErr: sm2jws.ErrUnknownKey, wantHits: 6},
		{name: "fail/malformed-token-no-fetch", before: func() { clock.add(61 * time.Second) }, token: "a.b", wantErr: sm2jws.ErrMalformedJWS, wantHits: 6},
	}
	for _, st := range steps {
		if !t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before()
			}
			got, err := keys.VerifySignature(t.Context(), st.token)
			if st.wantErr == nil && (err != nil || !bytes.Equal(got, payload)) {
				t.Fatalf("VerifySignature = %q, %v", got, err)
			}
			if st.wantErr != nil && !errors.Is(err, st.wantErr) {
				t.Fatalf("error = %v, want %v", err, st.wantErr)
			}
			if h := srv.hits.Load(); h != st.wantHits {
				t.Fatalf("server hits = %d, want %d", h, st.wantHits)
			}
		}) {
			t.FailNow() // later steps depend on this one
		}
	}
}

// TestRemoteKeySetConcurrentFirstUse checks that concurrent verifications
// share one fetch.
func TestRemoteKeySetConcurrentFirstUse(t *testing.T) {
	k1 := newTestKey(t, "k1")
	srv := newJWKSServer(t, k1.jwk)
	keys := sm2jws.NewRemoteKeySet(context.Background(), srv.URL, sm2jws.WithHTTPClient(srv.Client()))
	tok := signRaw(t, k1, map[string]any{"alg": "SM2", "kid": "k1"}, []byte(`{}`))
	unknown := signRaw(t, k1, map[string]any{"alg": "SM2", "kid": "zz"}, []byte(`{}`))
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			tk := tok
			if i%2 == 1 {
				tk = unknown
			}
			_, err := keys.VerifySignature(t.Context(), tk)
			if tk == tok && err != nil {
				errs <- err
			}
			if tk == unknown && !errors.Is(err, sm2jws.ErrUnknownKey) {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("VerifySignature: %v", err)
	}
	if h := srv.hits.Load(); h != 1 {
		t.Fatalf("server hits = %d, want 1", h)
	}
}

func TestRemoteKeySetFetchErrors(t *testing.T) {
	k1 := newTestKey(t, "k1")
	tok := signRaw(t, k1, map[string]any{"alg": "SM2", "kid": "k1"}, []byte(`{}`))
	tests := []struct {
		name    string
		url     string
		status  int
		body    string
		wantErr error
	}{
		{name: "fail/bad-url", url: "::not a url", wantErr: sm2jws.ErrFetch},
		{name: "fail/404", status: 404, body: "not found", wantErr: sm2jws.ErrFetch},
		{name: "fail/not-json", status: 200, body: "<html>", wantErr: sm2jws.ErrMalformedJWKSet},
		{name: "fail/invalid-key", status: 200, body: `{"keys":[{"kty":"EC","crv":"SM2","kid":"k1","x":"AA","y":"AA"}]}`, wantErr: sm2jws.ErrMalformedJWKSet},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url
			if u == "" {
				srv := newJWKSServer(t)
				srv.setRaw(tc.status, []byte(tc.body))
				u = srv.URL
			}
			keys := sm2jws.NewRemoteKeySet(context.Background(), u)
			_, err := keys.VerifySignature(t.Context(), tok)
			if !errors.Is(err, tc.wantErr) || !errors.Is(err, sm2jws.ErrFetch) {
				t.Fatalf("error = %v, want %v and ErrFetch", err, tc.wantErr)
			}
		})
	}
}

// TestRemoteKeySetCancelled checks that a cancelled context stops a fetch.
func TestRemoteKeySetCancelled(t *testing.T) {
	k1 := newTestKey(t, "k1")
	srv := newJWKSServer(t, k1.jwk)
	keys := sm2jws.NewRemoteKeySet(context.Background(), srv.URL)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tok := signRaw(t, k1, map[string]any{"alg": "SM2", "kid": "k1"}, []byte(`{}`))
	_, err := keys.VerifySignature(ctx, tok)
	if !errors.Is(err, sm2jws.ErrFetch) || !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want ErrFetch wrapping context.Canceled", err)
	}
	// The cancelled attempt does not hold back the next caller.
	if _, err := keys.VerifySignature(t.Context(), tok); err != nil {
		t.Fatalf("VerifySignature after a cancelled fetch: %v", err)
	}
}
