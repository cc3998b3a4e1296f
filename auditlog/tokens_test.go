package auditlog

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestAppendWithToken shows an entry and its timestamp token kept in one
// commit, on the sequencer and, on PostgreSQL, through a replica that hands
// its entries over.
func TestAppendWithToken(t *testing.T) {
	check := func(t *testing.T, appender, reader *Log) {
		ctx := t.Context()
		e := testEntry(1)
		e.TimestampToken = "tsa:serial:1f"
		der := []byte{0x30, 0x03, 0x02, 0x01, 0x1f}
		idx, err := appender.AppendWithToken(ctx, e, der)
		if err != nil {
			t.Fatal(err)
		}
		got, err := reader.Entry(ctx, idx)
		if err != nil || got.TimestampToken != e.TimestampToken {
			t.Fatalf("entry %d: %+v, %v", idx, got, err)
		}
		if kept, err := reader.Token(ctx, e.TimestampToken); err != nil || !bytes.Equal(kept, der) {
			t.Fatalf("kept token: %x, %v", kept, err)
		}
		if _, err := reader.Token(ctx, "tsa:serial:ff"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown token: %v", err)
		}
		// A second token under the same reference does not replace the first.
		if _, err := appender.AppendWithToken(ctx, e, []byte{0x30, 0x00}); err != nil {
			t.Fatal(err)
		}
		if kept, _ := reader.Token(ctx, e.TimestampToken); !bytes.Equal(kept, der) {
			t.Errorf("the kept token was replaced by %x", kept)
		}
		for _, tc := range []struct {
			name string
			ref  string
			der  []byte
		}{
			{"fail/no-reference", "", der},
			{"fail/long-reference", strings.Repeat("x", MaxFieldLen+1), der},
			{"fail/empty-token", "tsa:serial:20", nil},
			{"fail/huge-token", "tsa:serial:21", make([]byte, MaxTokenLen+1)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := testEntry(2)
				e.TimestampToken = tc.ref
				if _, err := appender.AppendWithToken(ctx, e, tc.der); err == nil {
					t.Error("accepted")
				}
			})
		}
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := openLog(t, db, newKeys(t))
		check(t, l, l)
	})
	t.Run("postgres/replica", func(t *testing.T) {
		seq, other := pgPair(t)
		check(t, other, seq)
	})
}
