package totp_test

import (
	"testing"
	"time"

	"github.com/tongxing/tongxing/authn/totp"
)

// FuzzValidate checks that Validate accepts only 6 ASCII digits that equal
// the secret's code for one of the three time steps around the time, and
// that the code of the current step is always accepted.
func FuzzValidate(f *testing.F) {
	f.Add(rfcSecret, "050471", int64(1111111111))
	f.Add(rfcSecret, "287082", int64(59))
	f.Add("gezdgnbvgy3tqojqgezdgnbvgy3tqojq", "000000", int64(0))
	f.Add("GEZDGNBVGY3TQOJQ====", "12345", int64(-30))
	f.Add("", "", int64(1<<40))
	f.Add("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "١٢٣٤٥٦", int64(1700000000))
	f.Fuzz(func(t *testing.T, secret, code string, unix int64) {
		at := time.Unix(unix, 0)
		ok := totp.Validate(secret, code, at)
		if ok != totp.Validate(secret, code, at) {
			t.Fatal("Validate is not deterministic")
		}
		if ok {
			if len(code) != totp.Digits {
				t.Fatalf("accepted %q of length %d", code, len(code))
			}
			for i := 0; i < len(code); i++ {
				if code[i] < '0' || code[i] > '9' {
					t.Fatalf("accepted non-digit code %q", code)
				}
			}
			matched := false
			for d := -totp.Skew; d <= totp.Skew; d++ {
				c, err := totp.GenerateCode(secret, at.Add(time.Duration(d)*totp.Period))
				if err == nil && c == code {
					matched = true
				}
			}
			if !matched {
				t.Fatalf("accepted %q that is no code within the skew", code)
			}
		}
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			return
		}
		if len(c) != totp.Digits {
			t.Fatalf("GenerateCode gave %q", c)
		}
		if !totp.Validate(secret, c, at) {
			t.Fatalf("own code %q not accepted", c)
		}
	})
}
