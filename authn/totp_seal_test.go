package authn

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/authn/totp"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestTOTPSealedAtRest: one-time code secrets are stored encrypted under
// the data key that the key sealer protects; replicas with the same
// passphrase open them; secrets an earlier version stored in clear are
// sealed at start-up; a sealed secret moved to another account's row
// does not open.
func TestTOTPSealedAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		clk := newClock()
		p := newTestProvider(t, db, clk)
		add := func(name string) *User {
			u, err := p.Users().AddUser(ctx, NewUser{Username: name, Password: testPassword})
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		alice, bob, carol := add("alice"), add("bob"), add("carol")
		row := func(id string) (string, []byte) {
			var s string
			var sealed []byte
			if err := db.QueryRow(ctx, "SELECT secret, sealed FROM authn_totp WHERE user_id = ?", id).Scan(&s, &sealed); err != nil {
				t.Fatal(err)
			}
			return s, sealed
		}
		key, err := p.Users().EnrollTOTP(ctx, alice.ID, "Tongxing")
		if err != nil {
			t.Fatal(err)
		}

		t.Run("ok/stored-encrypted", func(t *testing.T) {
			clear, sealed := row(alice.ID)
			if clear != "" || len(sealed) == 0 || bytes.Contains(sealed, []byte(key.Secret)) {
				t.Fatalf("stored secret %q, sealed %x: want only the sealed form", clear, sealed)
			}
			var dataKey []byte
			if err := db.QueryRow(ctx, "SELECT value FROM authn_settings WHERE name = ?", totpKeySetting).Scan(&dataKey); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(dataKey, []byte("-----BEGIN ENCRYPTED SYMMETRIC KEY-----")) {
				t.Fatalf("the data key is not stored sealed:\n%.80s", dataKey)
			}
		})
		t.Run("ok/replica-opens-it", func(t *testing.T) {
			second := newTestProvider(t, db, clk)
			got, ok, err := second.users.totpSecret(ctx, alice.ID)
			if err != nil || !ok || got != key.Secret {
				t.Fatalf("second provider: %v %v, secret matches %v", ok, err, got == key.Secret)
			}
		})
		t.Run("ok/clear-secret-of-earlier-version-sealed-at-start", func(t *testing.T) {
			legacy, err := totp.GenerateSecret("Tongxing", "bob")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ctx, "INSERT INTO authn_totp (user_id, secret, last_step, created_at) VALUES (?, ?, -1, 0)", bob.ID, legacy.Secret); err != nil {
				t.Fatal(err)
			}
			if got, ok, err := p.users.totpSecret(ctx, bob.ID); err != nil || !ok || got != legacy.Secret {
				t.Fatalf("clear secret before the restart: %v %v", ok, err)
			}
			restarted := newTestProvider(t, db, clk)
			if clear, sealed := row(bob.ID); clear != "" || len(sealed) == 0 {
				t.Fatalf("after the restart: secret %q, sealed %x", clear, sealed)
			}
			if got, ok, err := restarted.users.totpSecret(ctx, bob.ID); err != nil || !ok || got != legacy.Secret {
				t.Fatalf("sealed legacy secret: %v %v, matches %v", ok, err, got == legacy.Secret)
			}
		})
		t.Run("fail/sealed-secret-moved-to-another-account", func(t *testing.T) {
			_, sealed := row(alice.ID)
			if _, err := db.Exec(ctx, "INSERT INTO authn_totp (user_id, secret, sealed, last_step, created_at) VALUES (?, '', ?, -1, 0)", carol.ID, sealed); err != nil {
				t.Fatal(err)
			}
			if _, _, err := p.users.totpSecret(ctx, carol.ID); err == nil || !strings.Contains(err.Error(), "does not open") {
				t.Fatalf("alice's secret opened for carol: %v", err)
			}
		})
	})
}
