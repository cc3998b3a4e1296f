package authn

import (
	"errors"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("密码 correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q does not record the argon2id parameters", h)
	}
	for _, tc := range []struct {
		name, hash, pw string
		ok             bool
		err            bool
	}{
		{"ok/match", h, "密码 correct horse", true, false},
		{"fail/mismatch", h, "密码 correct horsE", false, false},
		{"fail/empty", h, "", false, false},
		{"fail/not-phc", "plain", "x", false, true},
		{"fail/other-algorithm", strings.Replace(h, "argon2id", "argon2i", 1), "x", false, true},
		{"fail/other-version", strings.Replace(h, "v=19", "v=16", 1), "x", false, true},
		{"fail/huge-memory", strings.Replace(h, "m=19456", "m=99999999", 1), "x", false, true},
		{"fail/many-passes", strings.Replace(h, "t=2", "t=1000", 1), "x", false, true},
		{"fail/zero-threads", strings.Replace(h, "p=1", "p=0", 1), "x", false, true},
		{"fail/bad-salt", strings.Replace(h, "p=1$", "p=1$!!", 1), "x", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := checkPassword(tc.hash, tc.pw)
			if ok != tc.ok || (err != nil) != tc.err {
				t.Errorf("checkPassword = %v, %v; want %v, error %v", ok, err, tc.ok, tc.err)
			}
		})
	}
	h2, _ := hashPassword("密码 correct horse")
	if h2 == h {
		t.Errorf("two hashes of one password are equal (no salt?)")
	}
}

func TestUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		users := NewUsers(db, testPseudonymKey, clk.Now)
		ctx := t.Context()
		good := NewUser{Username: "Chen.Qi", Password: "一二三四五六七八九十", Name: "陈七", Email: "chen@example.cn",
			Phone: "+86-139-0000-0000", Address: Address{Region: "上海市"}, CitizenID: "11010519491231002x"}
		u, err := users.AddUser(ctx, good)
		if err != nil {
			t.Fatalf("AddUser: %v", err)
		}
		if u.Username != "chen.qi" || u.CitizenIDLast4 != "002X" || u.EmailVerified {
			t.Errorf("stored user %+v", u)
		}
		// The ID number is stored only as its pseudonym and last four.
		var hash, last4 string
		if err := db.QueryRow(ctx, "SELECT citizen_id_hash, citizen_id_last4 FROM authn_users WHERE id = ?", u.ID).Scan(&hash, &last4); err != nil {
			t.Fatal(err)
		}
		if hash != ident.Pseudonym(testPseudonymKey, testCitizenID) || last4 != "002X" {
			t.Errorf("stored ID %q / %q", hash, last4)
		}
		rows, err := db.Query(ctx, "SELECT * FROM authn_users")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var s string
				switch x := v.(type) {
				case string:
					s = x
				case []byte:
					s = string(x)
				}
				if strings.Contains(strings.ToUpper(s), testCitizenID) || strings.Contains(s, good.Password) {
					t.Errorf("column %s holds the ID number or the password", cols[i])
				}
			}
		}
		rows.Close()
		for _, tc := range []struct {
			name string
			get  func() (*User, error)
		}{
			{"ok/by-id", func() (*User, error) { return users.User(ctx, u.ID) }},
			{"ok/by-username-any-case", func() (*User, error) { return users.ByUsername(ctx, "CHEN.QI") }},
			{"ok/by-citizen-id", func() (*User, error) { return users.ByCitizenID(ctx, " 11010519491231002X ") }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := tc.get()
				if err != nil || got.ID != u.ID || got.Address.Region != "上海市" || got.Name != "陈七" {
					t.Errorf("got %+v, %v", got, err)
				}
			})
		}
		if _, err := users.User(ctx, "nope"); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("fail/unknown-id: %v", err)
		}

		for _, tc := range []struct {
			name string
			edit func(*NewUser)
			want error
		}{
			{"fail/username-taken-other-case", func(n *NewUser) { n.Username = "CHEN.QI"; n.CitizenID = "" }, ErrUserExists},
			{"fail/citizen-id-taken", func(n *NewUser) { n.Username = "other" }, ErrUserExists},
			{"fail/empty-username", func(n *NewUser) { n.Username = ""; n.CitizenID = "" }, ErrInvalidUser},
			{"fail/username-space", func(n *NewUser) { n.Username = "a b"; n.CitizenID = "" }, ErrInvalidUser},
			{"fail/username-too-long", func(n *NewUser) { n.Username = strings.Repeat("a", 65); n.CitizenID = "" }, ErrInvalidUser},
			{"fail/short-password", func(n *NewUser) { n.Username = "x1"; n.Password = "short"; n.CitizenID = "" }, ErrInvalidUser},
			{"fail/long-password", func(n *NewUser) { n.Username = "x1"; n.Password = strings.Repeat("p", 1025); n.CitizenID = "" }, ErrInvalidUser},
			{"fail/bad-citizen-checksum", func(n *NewUser) { n.Username = "x1"; n.CitizenID = "110105194912310021" }, ErrInvalidUser},
			{"fail/bad-email", func(n *NewUser) { n.Username = "x1"; n.CitizenID = ""; n.Email = "not-an-address" }, ErrInvalidUser},
			{"fail/bad-phone", func(n *NewUser) { n.Username = "x1"; n.CitizenID = ""; n.Phone = "call me" }, ErrInvalidUser},
			{"fail/control-in-name", func(n *NewUser) { n.Username = "x1"; n.CitizenID = ""; n.Name = "a\x00b" }, ErrInvalidUser},
		} {
			t.Run(tc.name, func(t *testing.T) {
				n := good
				tc.edit(&n)
				_, err := users.AddUser(ctx, n)
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if strings.Contains(err.Error(), "11010519491231002") || strings.Contains(err.Error(), n.Password) {
					t.Errorf("error leaks the ID number or password: %v", err)
				}
			})
		}
		noKey := NewUsers(db, nil, clk.Now)
		if _, err := noKey.AddUser(ctx, NewUser{Username: "k", Password: testPassword, CitizenID: testCitizenID}); !errors.Is(err, ErrNoPseudonymKey) {
			t.Errorf("fail/no-pseudonym-key: %v", err)
		}
		// Passwords.
		if _, err := users.verifyPassword(ctx, "chen.qi", good.Password); err != nil {
			t.Errorf("ok/password: %v", err)
		}
		if err := users.SetPassword(ctx, u.ID, "another password"); err != nil {
			t.Fatal(err)
		}
		if _, err := users.verifyPassword(ctx, "chen.qi", good.Password); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("fail/old-password: %v", err)
		}
		if _, err := users.verifyPassword(ctx, "nobody", good.Password); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("fail/unknown-user: %v", err)
		}
		if err := users.SetPassword(ctx, "nope", "another password"); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("fail/set-password-unknown: %v", err)
		}
	})
}
