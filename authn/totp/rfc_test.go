package totp

import (
	"testing"
	"time"

	"github.com/pquerna/otp"
)

// rfcSecret is the RFC 6238 Appendix B SHA-1 seed, the ASCII string
// "12345678901234567890", in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// TestRFC6238AppendixB checks the 8-digit SHA-1 test vectors of RFC 6238
// Appendix B through the same HOTP path the 6-digit codes take.
func TestRFC6238AppendixB(t *testing.T) {
	tests := []struct {
		name string
		unix int64
		want string
	}{
		{"ok/59", 59, "94287082"},
		{"ok/1111111109", 1111111109, "07081804"},
		{"ok/1111111111", 1111111111, "14050471"},
		{"ok/1234567890", 1234567890, "89005924"},
		{"ok/2000000000", 2000000000, "69279037"},
		{"ok/20000000000", 20000000000, "65353130"},
	}
	s, err := normalizeSecret(rfcSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := codeAt(s, stepOf(time.Unix(tc.unix, 0)), otp.DigitsEight)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("code at %d = %s, want %s", tc.unix, got, tc.want)
			}
		})
	}
}

// TestRFC4226AppendixD checks the 6-digit HOTP values of RFC 4226 Appendix
// D, counters 0 to 9, which are the TOTP codes of time steps 0 to 9.
func TestRFC4226AppendixD(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		got, err := GenerateCode(rfcSecret, time.Unix(int64(i)*30+7, 0))
		if err != nil {
			t.Fatal(err)
		}
		if got != w {
			t.Errorf("counter %d: code %s, want %s", i, got, w)
		}
	}
}

func TestStepOf(t *testing.T) {
	tests := []struct {
		name string
		unix int64
		want int64
	}{
		{"ok/epoch", 0, 0},
		{"ok/29", 29, 0},
		{"ok/30", 30, 1},
		{"ok/before-epoch", -1, -1},
		{"ok/before-epoch-30", -30, -1},
		{"ok/before-epoch-31", -31, -2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := stepOf(time.Unix(tc.unix, 0)); got != tc.want {
				t.Fatalf("stepOf(%d) = %d, want %d", tc.unix, got, tc.want)
			}
		})
	}
}
