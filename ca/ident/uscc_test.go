package ident

import "testing"

// Check characters below were computed by hand, independently of the code
// under test:
//   - GB 11714 (position 17): values 0-9, A=10 ... Z=35, weights
//     3 7 9 10 5 8 4 2, check 11 - (sum mod 11), 10 -> X, 11 -> 0.
//   - GB 32100 (position 18): values are indexes into
//     0123456789ABCDEFGHJKLMNPQRTUWXY, weights 1 3 9 27 19 26 16 17 20 29 25
//     13 8 24 10 30 28, check 31 - (sum mod 31), 31 -> 0.
//
// Worked example, 91350100M000100Y43: organisation code M000100Y: 22*3 + 1*5
// + 34*2 = 139, 139 mod 11 = 7, 11 - 7 = 4. Whole code: 9 + 3 + 27 + 135 + 26
// + 21*20 + 1*8 + 30*30 + 4*28 = 1640, 1640 mod 31 = 28, 31 - 28 = 3.
func TestValidateUSCC(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Kind
	}{
		// The example code printed in many public GB 32100 validator docs and tests.
		{"ok/published-example", "91350100M000100Y43", 0},
		// dromara/hutool CreditCodeUtilTest.java (org 591693856: sum 1199 -> A; 666007217: sum 966 -> T).
		{"ok/hutool-test-1", "91310115591693856A", 0},
		{"ok/hutool-test-2", "91310110666007217T", 0},
		// Organisation code MA001234: 66+70+0+0+5+16+12+8 = 177, 177 mod 11 = 1 -> X.
		{"ok/authority-1-type-2", "12110000MA001234XU", 0}, // sum 1771 -> 4 -> U
		{"ok/authority-3-type-4", "34110105MA001234X1", 0}, // sum 1890 -> 30 -> 1
		{"ok/authority-5-type-1", "51440300MA001234XT", 0}, // sum 1958 -> 5 -> T
		{"ok/authority-7-type-1", "71310000MA001234X6", 0}, // sum 1792 -> 25 -> 6
		{"ok/authority-9-type-3", "93510100MA001234XG", 0}, // sum 1844 -> 15 -> G
		{"ok/authority-A-type-1", "A1100000MA001234XH", 0}, // sum 1750 -> 14 -> H
		{"ok/authority-N-type-2", "N2330100MA001234X1", 0}, // sum 1890 -> 30 -> 1
		{"ok/authority-Y-type-1", "Y1110000MA001234X1", 0}, // sum 1797 -> 30 -> 1
		{"fail/empty", "", ErrLength},
		{"fail/17-chars", "91350100M000100Y4", ErrLength},
		{"fail/19-chars", "91350100M000100Y430", ErrLength},
		{"fail/surrounding-space", "91350100M000100Y43 ", ErrLength},
		{"fail/lower-case", "91350100m000100y43", ErrCharset},
		{"fail/letter-I", "91350100I000100Y43", ErrCharset},
		{"fail/letter-O", "91350100O000100Y43", ErrCharset},
		{"fail/letter-Z", "91350100M000100Z43", ErrCharset},
		{"fail/letter-S", "9135010SM000100Y43", ErrCharset},
		{"fail/letter-V", "91350100M000100Y4V", ErrCharset},
		{"fail/hyphen", "91350100-00100Y43X", ErrCharset},
		// The segment cases below carry correct check characters, so only the segment is wrong.
		{"fail/authority-B", "B1110000MA001234XL", ErrSegment},
		{"fail/authority-9-type-4", "94110000MA001234XD", ErrSegment},
		{"fail/authority-Y-type-2", "Y2110000MA001234XX", ErrSegment},
		{"fail/division-letter", "911A0000MA001234XU", ErrSegment},
		{"fail/org-code-check", "91350100M000100Y53", ErrChecksum},
		{"fail/org-code-check-X", "91350100M000100YX3", ErrChecksum},
		{"fail/check", "91350100M000100Y44", ErrChecksum},
		{"fail/check-0", "91350100M000100Y40", ErrChecksum},
		// Listed as valid in a public example list, but its check character is D, not 0.
		{"fail/published-typo", "91350200M000000510", ErrChecksum},
		{"fail/transposed", "91351000M000100Y43", ErrChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, ValidateUSCC(tc.in), tc.want, FieldUSCC, tc.in)
		})
	}
}

func TestNormalizeUSCC(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  string
		valid bool
	}{
		{"ok/lower-case", "91350100m000100y43", "91350100M000100Y43", true},
		{"ok/spaces", "\t 91350100M000100Y43  ", "91350100M000100Y43", true},
		{"ok/already-normal", "9144030071526726XG", "9144030071526726XG", true},
		{"fail/lower-i-becomes-I", "91350100i000100Y43", "91350100I000100Y43", false},
		{"fail/empty", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := NormalizeUSCC(tc.in)
			if got != tc.want {
				t.Fatalf("NormalizeUSCC(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := NormalizeUSCC(got); again != got {
				t.Errorf("not idempotent: %q -> %q", got, again)
			}
			if err := ValidateUSCC(got); (err == nil) != tc.valid {
				t.Errorf("valid = %v, want %v (err %v)", err == nil, tc.valid, err)
			}
		})
	}
}
