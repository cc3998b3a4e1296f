package totp_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongxing/tongxing/authn/totp"
)

// rfcSecret is the RFC 6238 Appendix B SHA-1 seed "12345678901234567890" in
// base32; the 6-digit codes below are the last 6 digits of its 8-digit
// vectors.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

func TestGenerateSecret(t *testing.T) {
	tests := []struct {
		name            string
		issuer, account string
		wantErr         error
	}{
		{"ok/ascii", "Tongxing", "alice@example.cn", nil},
		{"ok/chinese", "通行", "张三", nil},
		{"ok/space", "Tongxing Test", "alice smith", nil},
		{"fail/empty-issuer", "", "alice", totp.ErrLabel},
		{"fail/empty-account", "Tongxing", "", totp.ErrLabel},
		{"fail/colon-issuer", "Tong:xing", "alice", totp.ErrLabel},
		{"fail/colon-account", "Tongxing", "a:lice", totp.ErrLabel},
		{"fail/control", "Tongxing", "al\nice", totp.ErrLabel},
		{"fail/invalid-utf8", "Tongxing", "al\xffice", totp.ErrLabel},
		{"fail/too-long", "Tongxing", strings.Repeat("a", totp.MaxLabelLength+1), totp.ErrLabel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := totp.GenerateSecret(tc.issuer, tc.account)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(k.Secret)
			if err != nil || len(raw) != totp.SecretSize {
				t.Fatalf("secret %d bytes, err %v; want %d bytes of unpadded base32", len(raw), err, totp.SecretSize)
			}
			u, err := url.Parse(k.URL)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if u.Scheme != "otpauth" || u.Host != "totp" {
				t.Errorf("URL %s: want otpauth://totp/", k.URL)
			}
			if want := "/" + tc.issuer + ":" + tc.account; u.Path != want {
				t.Errorf("label %q, want %q", u.Path, want)
			}
			for key, want := range map[string]string{"secret": k.Secret, "issuer": tc.issuer, "algorithm": "SHA1", "digits": "6", "period": "30"} {
				if got := q.Get(key); got != want {
					t.Errorf("URL %s = %q, want %q", key, got, want)
				}
			}
			if k.Issuer != tc.issuer || k.Account != tc.account {
				t.Errorf("key names %q %q", k.Issuer, k.Account)
			}
			// A fresh secret validates its own current code.
			now := time.Now()
			code, err := totp.GenerateCode(k.Secret, now)
			if err != nil || !totp.Validate(k.Secret, code, now) {
				t.Fatalf("own code %q does not validate (err %v)", code, err)
			}
			// The secret stays out of String and slog output.
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("enrolled", "key", k)
			for _, s := range []string{k.String(), fmt.Sprint(k), fmt.Sprintf("%v", k), buf.String()} {
				if strings.Contains(s, k.Secret) {
					t.Errorf("secret leaked in %q", s)
				}
			}
		})
	}
	a, _ := totp.GenerateSecret("Tongxing", "alice")
	b, _ := totp.GenerateSecret("Tongxing", "alice")
	if a.Secret == b.Secret {
		t.Fatal("two generated secrets are equal")
	}
}

func TestValidate(t *testing.T) {
	at := time.Unix(1111111111, 0) // step 37037037, code 050471
	tests := []struct {
		name   string
		secret string
		code   string
		at     time.Time
		want   bool
	}{
		{"ok/rfc-59", rfcSecret, "287082", time.Unix(59, 0), true},
		{"ok/rfc-1111111109", rfcSecret, "081804", time.Unix(1111111109, 0), true},
		{"ok/rfc-1111111111", rfcSecret, "050471", at, true},
		{"ok/rfc-1234567890", rfcSecret, "005924", time.Unix(1234567890, 0), true},
		{"ok/rfc-2000000000", rfcSecret, "279037", time.Unix(2000000000, 0), true},
		{"ok/rfc-20000000000", rfcSecret, "353130", time.Unix(20000000000, 0), true},
		{"ok/skew-verifier-one-step-late", rfcSecret, "050471", at.Add(30 * time.Second), true},
		{"ok/skew-verifier-one-step-early", rfcSecret, "050471", at.Add(-30 * time.Second), true},
		{"ok/lower-case-secret", strings.ToLower(rfcSecret), "050471", at, true},
		{"fail/skew-two-steps-late", rfcSecret, "050471", at.Add(60 * time.Second), false},
		{"fail/skew-two-steps-early", rfcSecret, "050471", at.Add(-60 * time.Second), false},
		{"fail/wrong-code", rfcSecret, "050472", at, false},
		{"fail/eight-digits", rfcSecret, "14050471", at, false},
		{"fail/five-digits", rfcSecret, "50471", at, false},
		{"fail/seven-digits", rfcSecret, "0504710", at, false},
		{"fail/empty", rfcSecret, "", at, false},
		{"fail/leading-space", rfcSecret, " 050471", at, false},
		{"fail/trailing-newline", rfcSecret, "050471\n", at, false},
		{"fail/letters", rfcSecret, "05047a", at, false},
		{"fail/sign", rfcSecret, "+50471", at, false},
		{"fail/fullwidth-digits", rfcSecret, "０５０４７１", at, false},
		{"fail/arabic-indic-digits", rfcSecret, "٠٥٠٤٧١", at, false},
		{"fail/secret-not-base32", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1", "050471", at, false},
		{"fail/secret-too-short", "GEZDGNBVGY3TQOJQ", "050471", at, false},
		{"fail/secret-empty", "", "050471", at, false},
		{"fail/secret-too-long", strings.Repeat("A", totp.MaxSecretLength+8), "050471", at, false},
		{"fail/before-epoch", rfcSecret, "755224", time.Unix(-31, 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := totp.Validate(tc.secret, tc.code, tc.at); got != tc.want {
				t.Fatalf("Validate(%q at %d) = %v, want %v", tc.code, tc.at.Unix(), got, tc.want)
			}
		})
	}
}

func TestGenerateCode(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		at      time.Time
		want    string
		wantErr error
	}{
		{"ok/rfc-59", rfcSecret, time.Unix(59, 0), "287082", nil},
		{"ok/step-boundary", rfcSecret, time.Unix(60, 0), "359152", nil},
		{"fail/bad-secret", "not base32!", time.Unix(59, 0), "", totp.ErrSecret},
		{"fail/before-epoch", rfcSecret, time.Unix(-1, 0), "", totp.ErrInvalidCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := totp.GenerateCode(tc.secret, tc.at)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("GenerateCode = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestVerifier(t *testing.T) {
	at := time.Unix(1111111111, 0)
	code := func(t *testing.T, tt time.Time) string {
		t.Helper()
		c, err := totp.GenerateCode(rfcSecret, tt)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	type attempt struct {
		account, secret, code string
		at                    time.Time
		wantErr               error
	}
	tests := []struct {
		name     string
		attempts []attempt
	}{
		{"ok/once", []attempt{{"alice", rfcSecret, "050471", at, nil}}},
		{"ok/next-step-after-use", []attempt{
			{"alice", rfcSecret, "050471", at, nil},
			{"alice", rfcSecret, code(t, at.Add(30*time.Second)), at.Add(30 * time.Second), nil},
		}},
		{"ok/same-code-other-account", []attempt{
			{"alice", rfcSecret, "050471", at, nil},
			{"bob", rfcSecret, "050471", at, nil},
		}},
		{"ok/wrong-code-does-not-consume-step", []attempt{
			{"alice", rfcSecret, "000000", at, totp.ErrInvalidCode},
			{"alice", rfcSecret, "050471", at, nil},
		}},
		{"fail/replay-same-time", []attempt{
			{"alice", rfcSecret, "050471", at, nil},
			{"alice", rfcSecret, "050471", at, totp.ErrReplayed},
		}},
		{"fail/replay-within-skew", []attempt{
			{"alice", rfcSecret, "050471", at, nil},
			{"alice", rfcSecret, "050471", at.Add(30 * time.Second), totp.ErrReplayed},
		}},
		{"fail/earlier-step-after-later", []attempt{
			{"alice", rfcSecret, code(t, at.Add(30*time.Second)), at, nil},
			{"alice", rfcSecret, "050471", at, totp.ErrReplayed},
		}},
		{"fail/wrong-length", []attempt{{"alice", rfcSecret, "50471", at, totp.ErrInvalidCode}}},
		{"fail/non-digits", []attempt{{"alice", rfcSecret, "05O471", at, totp.ErrInvalidCode}}},
		{"fail/expired", []attempt{{"alice", rfcSecret, "050471", at.Add(90 * time.Second), totp.ErrInvalidCode}}},
		{"fail/bad-secret", []attempt{{"alice", "AAAA", "050471", at, totp.ErrSecret}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := totp.NewVerifier(&totp.MemoryUsedSteps{})
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range tc.attempts {
				err := v.Verify(context.Background(), a.account, a.secret, a.code, a.at)
				if a.wantErr == nil && err != nil || !errors.Is(err, a.wantErr) {
					t.Fatalf("attempt %d: err = %v, want %v", i, err, a.wantErr)
				}
				if err != nil && (strings.Contains(err.Error(), a.code) && a.code != "" || strings.Contains(err.Error(), a.secret)) {
					t.Fatalf("attempt %d: error %q carries the code or secret", i, err)
				}
			}
		})
	}
}

func TestVerifierConcurrentReplay(t *testing.T) {
	v, err := totp.NewVerifier(&totp.MemoryUsedSteps{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1111111111, 0)
	var ok, replayed atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			switch err := v.Verify(context.Background(), "alice", rfcSecret, "050471", at); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, totp.ErrReplayed):
				replayed.Add(1)
			default:
				t.Errorf("unexpected error %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || replayed.Load() != 15 {
		t.Fatalf("%d accepted, %d replays refused; want 1 and 15", ok.Load(), replayed.Load())
	}
}

type failingSteps struct{}

func (failingSteps) MarkUsed(context.Context, string, int64) (bool, error) {
	return false, errors.New("database down")
}

func TestVerifierStoreError(t *testing.T) {
	tests := []struct {
		name string
		used totp.UsedSteps
		ctx  func() context.Context
	}{
		{"fail/store-error", failingSteps{}, context.Background},
		{"fail/cancelled-context", &totp.MemoryUsedSteps{}, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := totp.NewVerifier(tc.used)
			if err != nil {
				t.Fatal(err)
			}
			err = v.Verify(tc.ctx(), "alice", rfcSecret, "050471", time.Unix(1111111111, 0))
			if err == nil || errors.Is(err, totp.ErrReplayed) || errors.Is(err, totp.ErrInvalidCode) {
				t.Fatalf("err = %v, want the store's error", err)
			}
		})
	}
	if _, err := totp.NewVerifier(nil); err == nil {
		t.Fatal("NewVerifier(nil) succeeded")
	}
}

func TestKeyFor(t *testing.T) {
	k, err := totp.GenerateSecret("Tongxing", "zhangsan")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, issuer, account, secret string
		wantErr                       error
	}{
		{"ok/same-key-again", "Tongxing", "zhangsan", k.Secret, nil},
		{"ok/lower-case-secret", "Tongxing", "zhangsan", strings.ToLower(k.Secret), nil},
		{"fail/short-secret", "Tongxing", "zhangsan", "JBSWY3DP", totp.ErrSecret},
		{"fail/not-base32", "Tongxing", "zhangsan", "01!!", totp.ErrSecret},
		{"fail/colon-in-account", "Tongxing", "a:b", k.Secret, totp.ErrLabel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := totp.KeyFor(tt.issuer, tt.account, tt.secret)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Secret != k.Secret || got.URL != k.URL {
				t.Fatalf("KeyFor = %v, %v; want the generated key again", got, err)
			}
		})
	}
}
