package authn

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestThrottlePolicyLockFor(t *testing.T) {
	p := ThrottlePolicy{Free: 2, Base: time.Minute, Max: 10 * time.Minute, Reset: time.Hour}
	for _, tc := range []struct {
		name     string
		failures int64
		want     time.Duration
	}{
		{"ok/free-1", 1, 0},
		{"ok/free-2", 2, 0},
		{"ok/first-lock", 3, time.Minute},
		{"ok/doubles", 4, 2 * time.Minute},
		{"ok/doubles-again", 5, 4 * time.Minute},
		{"ok/capped", 7, 10 * time.Minute},
		{"ok/huge-count-capped", 1 << 40, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.lockFor(tc.failures); got != tc.want {
				t.Errorf("lockFor(%d) = %v, want %v", tc.failures, got, tc.want)
			}
		})
	}
}

func TestAddressKey(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"ok/ipv4", "192.0.2.7:5555", "addr:192.0.2.7"},
		{"ok/ipv4-mapped", "[::ffff:192.0.2.7]:1", "addr:192.0.2.7"},
		{"ok/ipv6-64", "[2001:db8:1:2:3:4:5:6]:443", "addr:2001:db8:1:2::/64"},
		{"ok/ipv6-same-64", "[2001:db8:1:2:ffff::1]:443", "addr:2001:db8:1:2::/64"},
		{"ok/host-only", "192.0.2.8", "addr:192.0.2.8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := addressKey(tc.in); got != tc.want {
				t.Errorf("addressKey(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestBruteForce checks per-account and per-address throttling with
// exponential backoff, driven by the clock.
func TestBruteForce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		p := newTestProvider(t, db, clk, WithThrottle(
			ThrottlePolicy{Free: 3, Base: time.Minute, Max: 8 * time.Minute, Reset: 24 * time.Hour},
			ThrottlePolicy{Free: 6, Base: 10 * time.Second, Max: time.Minute, Reset: time.Hour}))
		ctx := t.Context()
		for _, u := range []string{"wangwu", "zhaoliu"} {
			if _, err := p.Users().AddUser(ctx, NewUser{Username: u, Password: testPassword}); err != nil {
				t.Fatal(err)
			}
		}
		const addr = "198.51.100.1:4000"
		try := func(user, pw, from string) error {
			_, err := p.CheckPassword(ctx, user, pw, from)
			return err
		}
		for i := 1; i <= 3; i++ {
			if err := try("wangwu", "wrong", addr); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		// The account locks after the 4th failure, for 1 minute.
		if err := try("wangwu", "wrong", "198.51.100.2:1"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("4th failure: %v", err)
		}
		err := try("wangwu", testPassword, "203.0.113.9:1")
		var le *LockedError
		if !errors.As(err, &le) || !le.Account || !errors.Is(err, ErrLocked) {
			t.Fatalf("right password while locked: %v, want an account *LockedError", err)
		}
		if d := le.Until.Sub(clk.Now()); d != time.Minute {
			t.Errorf("first lock lasts %v, want 1m", d)
		}
		clk.Advance(59 * time.Second)
		if err := try("wangwu", testPassword, "203.0.113.9:1"); !errors.Is(err, ErrLocked) {
			t.Errorf("right password 1s before the lock ends: %v", err)
		}
		clk.Advance(time.Second)
		// The 5th failure doubles the lock.
		if err := try("wangwu", "wrong", addr); !errors.Is(err, ErrBadCredentials) {
			t.Fatal(err)
		}
		if err := try("wangwu", testPassword, "203.0.113.9:1"); !errors.As(err, &le) || le.Until.Sub(clk.Now()) != 2*time.Minute {
			t.Fatalf("after the 5th failure: %v, want a 2m lock", err)
		}
		clk.Advance(2 * time.Minute)
		if _, err := p.CheckPassword(ctx, "WangWu", testPassword, "203.0.113.9:1"); err != nil {
			t.Fatalf("right password after the lock: %v", err)
		}
		// Success forgets the account's failures.
		if err := try("wangwu", "wrong", "203.0.113.9:1"); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("after success: %v", err)
		}
		// The address has 4 failures; the 7th from it locks it, for every
		// account, without touching zhaoliu's own counter.
		for i := 0; i < 3; i++ {
			if err := try("nobody", "wrong", addr); !errors.Is(err, ErrBadCredentials) {
				t.Fatal(err)
			}
		}
		err = try("zhaoliu", testPassword, addr)
		if !errors.As(err, &le) || le.Account {
			t.Fatalf("zhaoliu from a locked address: %v, want an address lock", err)
		}
		if _, err := p.CheckPassword(ctx, "zhaoliu", testPassword, "[2001:db8::1]:1"); err != nil {
			t.Errorf("zhaoliu from another address: %v", err)
		}
	})
}

// TestLockoutPage checks what the browser sees when an account is locked.
func TestLockoutPage(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	b, pt := e.browser(t), e.portal(portalA)
	_, u := pt.start(oauth2.SetAuthURLParam("ui_locales", "en"))
	p := b.get(u)
	for i := 0; i < defaultAccountThrottle.Free+1; i++ {
		p = b.login(p, testUser, "wrong password")
	}
	p = b.login(p, testUser, testPassword)
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "60" || !strings.Contains(p.body, "Too many failed sign-ins") {
		t.Fatalf("locked login: %d Retry-After=%q\n%s", p.status, p.header.Get("Retry-After"), p.body)
	}
	e.clk.Advance(time.Minute)
	f, u := pt.start()
	f.finish(t, b.login(b.get(u), testUser, testPassword))
}
