package auditlog

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := openLog(t, db, newKeys(t))
		ctx := t.Context()
		der := []byte{0x30, 0x03, 0x02, 0x01, 0x01}
		if err := l.PutToken(ctx, "tsa:serial:0a", der); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			ref  string
			der  []byte
			ok   bool
		}{
			{"ok/same-again", "tsa:serial:0a", der, true},
			{"fail/other-token-same-ref", "tsa:serial:0a", []byte{0x30, 0x00}, false},
			{"fail/empty-ref", "", der, false},
			{"fail/long-ref", strings.Repeat("x", MaxFieldLen+1), der, false},
			{"fail/empty-token", "tsa:serial:0b", nil, false},
			{"fail/huge-token", "tsa:serial:0c", make([]byte, MaxTokenLen+1), false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := l.PutToken(ctx, tc.ref, tc.der); (err == nil) != tc.ok {
					t.Errorf("PutToken: %v, want ok %v", err, tc.ok)
				}
			})
		}
		got, err := l.Token(ctx, "tsa:serial:0a")
		if err != nil || !bytes.Equal(got, der) {
			t.Errorf("Token: %x, %v", got, err)
		}
		if _, err := l.Token(ctx, "tsa:serial:ff"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown token: %v", err)
		}
	})
}
