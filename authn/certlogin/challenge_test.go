package certlogin_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/authn/certlogin"
)

func TestNewChallenge(t *testing.T) {
	now := time.Date(2026, 3, 1, 18, 0, 0, 987654321, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name     string
		audience string
		opts     []certlogin.ChallengeOption
		wantTTL  time.Duration
		wantErr  error
	}{
		{"ok/default-ttl", issuerURL, nil, certlogin.DefaultChallengeTTL, nil},
		{"ok/ttl-5m", issuerURL, []certlogin.ChallengeOption{certlogin.WithTTL(5 * time.Minute)}, 5 * time.Minute, nil},
		{"ok/chinese-host", "https://通行.政务.cn", nil, certlogin.DefaultChallengeTTL, nil},
		{"fail/empty-audience", "", nil, 0, certlogin.ErrChallenge},
		{"fail/newline-in-audience", issuerURL + "\nnonce", nil, 0, certlogin.ErrChallenge},
		{"fail/long-audience", "https://" + strings.Repeat("a", certlogin.MaxAudienceLength), nil, 0, certlogin.ErrChallenge},
		{"fail/invalid-utf8", "https://\xff", nil, 0, certlogin.ErrChallenge},
		{"fail/ttl-zero", issuerURL, []certlogin.ChallengeOption{certlogin.WithTTL(0)}, 0, certlogin.ErrChallenge},
		{"fail/ttl-too-long", issuerURL, []certlogin.ChallengeOption{certlogin.WithTTL(time.Hour)}, 0, certlogin.ErrChallenge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := certlogin.NewChallenge(tc.audience, now, tc.opts...)
			if wantError(t, err, tc.wantErr) {
				return
			}
			wantIAT := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
			if len(ch.Nonce) != certlogin.NonceSize || ch.Audience != tc.audience || !ch.IssuedAt.Equal(wantIAT) ||
				ch.IssuedAt.Location() != time.UTC || ch.ExpiresAt.Sub(ch.IssuedAt) != tc.wantTTL {
				t.Fatalf("challenge %+v", ch)
			}
			want := "tongxing-cert-login\n" + tc.audience + "\n" + base64.RawURLEncoding.EncodeToString(ch.Nonce) + "\n2026-03-01T10:00:00Z"
			if got := string(ch.ToBeSigned()); got != want {
				t.Fatalf("ToBeSigned = %q, want %q", got, want)
			}
			if ch.ID() != base64.RawURLEncoding.EncodeToString(ch.Nonce) || len(ch.ID()) != 43 {
				t.Fatalf("ID %q", ch.ID())
			}
		})
	}
	a, _ := certlogin.NewChallenge(issuerURL, now)
	b, _ := certlogin.NewChallenge(issuerURL, now)
	if bytes.Equal(a.Nonce, b.Nonce) {
		t.Fatal("two challenges share a nonce")
	}
}

func TestChallengeJSON(t *testing.T) {
	ch := newChallenge(t)
	js, err := ch.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	id := ch.ID()
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"ok/round-trip", string(js), nil},
		{"ok/offset-times", `{"challenge_id":"` + id + `","audience":"` + issuerURL + `","issued_at":"2026-03-01T17:59:50+08:00","expires_at":"2026-03-01T18:01:50+08:00"}`, nil},
		{"fail/unknown-field", `{"challenge_id":"` + id + `","audience":"a","issued_at":"2026-03-01T09:59:50Z","expires_at":"2026-03-01T10:01:50Z","x":1}`, certlogin.ErrChallenge},
		{"fail/trailing-object", string(js) + `{}`, certlogin.ErrChallenge},
		{"fail/trailing-brace", string(js) + `}`, certlogin.ErrChallenge},
		{"fail/short-id", `{"challenge_id":"AAAA","audience":"a","issued_at":"2026-03-01T09:59:50Z","expires_at":"2026-03-01T10:01:50Z"}`, certlogin.ErrChallenge},
		{"fail/padded-id", `{"challenge_id":"` + base64.URLEncoding.EncodeToString(ch.Nonce) + `","audience":"a","issued_at":"2026-03-01T09:59:50Z","expires_at":"2026-03-01T10:01:50Z"}`, certlogin.ErrChallenge},
		{"fail/bad-time", `{"challenge_id":"` + id + `","audience":"a","issued_at":"yesterday","expires_at":"2026-03-01T10:01:50Z"}`, certlogin.ErrChallenge},
		{"fail/fractional-issue-time", `{"challenge_id":"` + id + `","audience":"a","issued_at":"2026-03-01T09:59:50.5Z","expires_at":"2026-03-01T10:01:50Z"}`, certlogin.ErrChallenge},
		{"fail/expires-before-issue", `{"challenge_id":"` + id + `","audience":"a","issued_at":"2026-03-01T09:59:50Z","expires_at":"2026-03-01T09:59:50Z"}`, certlogin.ErrChallenge},
		{"fail/empty-audience", `{"challenge_id":"` + id + `","audience":"","issued_at":"2026-03-01T09:59:50Z","expires_at":"2026-03-01T10:01:50Z"}`, certlogin.ErrChallenge},
		{"fail/null", `null`, certlogin.ErrChallenge},
		{"fail/too-big", `{"audience":"` + strings.Repeat("a", certlogin.MaxChallengeSize) + `"}`, certlogin.ErrChallenge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := certlogin.ParseChallenge([]byte(tc.in))
			if wantError(t, err, tc.wantErr) {
				return
			}
			if !bytes.Equal(got.ToBeSigned(), ch.ToBeSigned()) || !got.ExpiresAt.Equal(ch.ExpiresAt) || got.ID() != id {
				t.Fatalf("parsed %+v, want %+v", got, ch)
			}
		})
	}
	if _, err := (&certlogin.Challenge{}).MarshalJSON(); !errors.Is(err, certlogin.ErrChallenge) {
		t.Fatalf("MarshalJSON of an empty challenge: %v", err)
	}
}

func TestMemoryUsedChallenges(t *testing.T) {
	now := testNow
	m := &certlogin.MemoryUsedChallenges{Now: func() time.Time { return now }}
	ctx := context.Background()
	steps := []struct {
		name      string
		id        string
		expiresAt time.Time
		advance   time.Duration
		wantFresh bool
	}{
		{"ok/first", "a", testNow.Add(time.Minute), 0, true},
		{"ok/other-id", "b", testNow.Add(time.Minute), 0, true},
		{"fail/again", "a", testNow.Add(time.Minute), 0, false},
		{"fail/again-later", "a", testNow.Add(time.Minute), 30 * time.Second, false},
		{"ok/forgotten-after-expiry", "a", testNow.Add(time.Minute), 31 * time.Second, true},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		fresh, err := m.MarkUsed(ctx, s.id, s.expiresAt)
		if err != nil || fresh != s.wantFresh {
			t.Fatalf("%s: MarkUsed = %v, %v; want %v", s.name, fresh, err, s.wantFresh)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.MarkUsed(cctx, "c", testNow); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}
