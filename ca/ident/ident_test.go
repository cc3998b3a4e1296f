package ident

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// allKinds lists every Kind, to check that an error matches exactly one.
var allKinds = []Kind{ErrLength, ErrCharset, ErrSegment, ErrDate, ErrChecksum, ErrEncoding, ErrUnsupported}

// fixedNow is "today" for deterministic date checks: 2025-06-15 in UTC+8.
var fixedNow = time.Date(2025, 6, 15, 12, 0, 0, 0, time.FixedZone("CST", 8*60*60))

// checkErr asserts that err is nil when want is 0, and otherwise an *Error
// for field that matches want and no other Kind and does not disclose input.
func checkErr(t *testing.T, err error, want Kind, field, input string) {
	t.Helper()
	if want == 0 {
		if err != nil {
			t.Fatalf("want no error, got %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want %v, got nil", want)
	}
	for _, k := range allKinds {
		if got := errors.Is(err, k); got != (k == want) {
			t.Errorf("errors.Is(err, %v) = %v; err = %v", k, got, err)
		}
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(*Error) failed for %T %v", err, err)
	}
	if e.Field != field {
		t.Errorf("Field = %q, want %q", e.Field, field)
	}
	if e.Kind != want {
		t.Errorf("Kind = %v, want %v", e.Kind, want)
	}
	if e.Reason == "" {
		t.Error("empty Reason")
	}
	if len(input) >= 8 {
		if strings.Contains(err.Error(), input) || strings.Contains(e.Value, input) {
			t.Errorf("error discloses the full input: %v", err)
		}
	}
	if !strings.HasPrefix(e.Value, "len=") {
		t.Errorf("Value = %q, want a len= description", e.Value)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name      string
		err       *Error
		wantMsg   string
		wantUnwrp error
	}{
		{
			name:      "ok/checksum",
			err:       newError(ErrChecksum, FieldIDNumber, "110105194912310021", "ISO 7064 MOD 11-2 check character does not match"),
			wantMsg:   "ident: invalid id_number (len=18,last4=0021): check character mismatch: ISO 7064 MOD 11-2 check character does not match",
			wantUnwrp: ErrChecksum,
		},
		{
			name:      "ok/short-input-shows-length-only",
			err:       newError(ErrLength, FieldUSCC, "9135010", "want 18 characters, got 7"),
			wantMsg:   "ident: invalid uscc (len=7): wrong length: want 18 characters, got 7",
			wantUnwrp: ErrLength,
		},
		{
			name:      "ok/non-printable-tail-hidden",
			err:       newError(ErrCharset, FieldUSCC, "91350100M000100Y4\n", "x"),
			wantMsg:   "ident: invalid uscc (len=18): invalid character: x",
			wantUnwrp: ErrCharset,
		},
		{
			name:      "ok/zero-kind-unwraps-to-nil",
			err:       &Error{Field: FieldUSCC, Value: "len=0", Reason: "r"},
			wantMsg:   "ident: invalid uscc (len=0): ident kind 0: r",
			wantUnwrp: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.wantMsg {
				t.Errorf("Error() = %q, want %q", got, tc.wantMsg)
			}
			if got := tc.err.Unwrap(); got != tc.wantUnwrp {
				t.Errorf("Unwrap() = %v, want %v", got, tc.wantUnwrp)
			}
		})
	}
}

func TestKindsDistinct(t *testing.T) {
	seen := map[string]Kind{}
	for _, k := range allKinds {
		msg := k.Error()
		if prev, dup := seen[msg]; dup {
			t.Errorf("kinds %d and %d share message %q", prev, k, msg)
		}
		seen[msg] = k
		wrapped := errors.Join(errors.New("context"), &Error{Kind: k, Field: FieldUSCC, Value: "len=0", Reason: "r"})
		if !errors.Is(wrapped, k) {
			t.Errorf("errors.Is through wrapping failed for %v", k)
		}
	}
}
