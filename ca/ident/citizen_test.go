package ident

import (
	"testing"
	"time"
)

// Expected check characters below were computed by hand with the
// ISO 7064 MOD 11-2 weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 and the map
// sum mod 11 -> "10X98765432"; the weighted sum is given for each.
func TestValidateCitizenIDAt(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Kind
	}{
		// GB 11643-1999, 4.3 example (北京市朝阳区, born 1949-12-31): sum 167, 167 mod 11 = 2 -> X.
		{"ok/gb11643-example", "11010519491231002X", 0},
		{"ok/lower-bound-1900-01-01", "11010519000101001X", 0}, // sum 68 -> 2 -> X
		{"ok/leap-day-2000", "110105200002291235", 0},          // sum 150 -> 7 -> 5
		{"ok/leap-day-2024", "110105202402294565", 0},          // sum 216 -> 7 -> 5
		{"ok/born-today", "110105202506150013", 0},             // sum 163 -> 9 -> 3
		{"ok/jiangsu", "320582199511087716", 0},                // sum 358 -> 6 -> 6
		{"ok/sichuan", "510107200812310036", 0},                // sum 171 -> 6 -> 6
		{"ok/check-1", "53010219200508011X", 0},                // sum 189 -> 2 -> X
		{"fail/empty", "", ErrLength},                          //
		{"fail/17-chars", "11010519491231002", ErrLength},      //
		{"fail/19-chars", "11010519491231002X0", ErrLength},    //
		{"fail/15-digit-first-generation", "110105491231002", ErrLength},
		{"fail/surrounding-space", " 11010519491231002X", ErrLength},
		{"fail/fullwidth-digits", "１１０１０５１９４９１２３１００２Ｘ", ErrLength},
		{"fail/lower-case-x", "11010519491231002x", ErrCharset},
		{"fail/letter-in-body", "1101051949123100AX", ErrCharset},
		{"fail/x-in-body", "1101051949123100X2", ErrCharset},
		{"fail/bad-check-char", "11010519491231002Y", ErrCharset},
		{"fail/nul-byte", "11010519491231\x00002", ErrCharset},
		{"fail/region-starts-with-0", "010105194912310026", ErrSegment}, // sum 160 -> 6 -> 6: only the region is wrong
		// GB 11643-1999 example (广东省汕头市, born 1880-01-01): sum 195 -> 8 -> 4, valid check but before 1900.
		{"fail/date-1880-gb11643-example", "440524188001010014", ErrDate},
		{"fail/date-1899-12-31", "110105189912310015", ErrDate},          // sum 194 -> 7 -> 5
		{"fail/date-1900-02-29", "110105190002290017", ErrDate},          // sum 137 -> 5 -> 7
		{"fail/date-2023-02-29", "110105202302290014", ErrDate},          // sum 151 -> 8 -> 4
		{"fail/date-month-13", "110105194913010029", ErrDate},            // sum 146 -> 3 -> 9
		{"fail/date-month-00", "110105194900010021", ErrDate},            //
		{"fail/date-day-00", "110105194912000021", ErrDate},              //
		{"fail/date-feb-30", "110105194902300020", ErrDate},              // sum 155 -> 1 -> 0
		{"fail/date-tomorrow", "110105202506160019", ErrDate},            // sum 168 -> 3 -> 9
		{"fail/checksum", "110105194912310021", ErrChecksum},             // expected X
		{"fail/checksum-x-for-digit", "11010520250615001X", ErrChecksum}, // expected 3
		{"fail/checksum-transposed", "11010519491213002X", ErrChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, ValidateCitizenIDAt(tc.in, fixedNow), tc.want, FieldIDNumber, tc.in)
		})
	}
}

func TestValidateCitizenIDTodayIsLocal(t *testing.T) {
	cst := time.FixedZone("CST", 8*60*60)
	// 2025-06-16 01:00 in UTC+8 is still 2025-06-15 in UTC.
	instant := time.Date(2025, 6, 16, 1, 0, 0, 0, cst)
	tests := []struct {
		name string
		now  time.Time
		want Kind
	}{
		{"ok/utc+8-date-is-16th", instant, 0},
		{"fail/utc-date-is-15th", instant.UTC(), ErrDate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, ValidateCitizenIDAt("110105202506160019", tc.now), tc.want, FieldIDNumber, "110105202506160019")
		})
	}
}

func TestValidateCitizenIDNow(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Kind
	}{
		{"ok/gb11643-example", "11010519491231002X", 0},
		{"fail/year-9999", "110105999912310010", ErrDate},
		{"fail/checksum", "110105194912310021", ErrChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, ValidateCitizenID(tc.in), tc.want, FieldIDNumber, tc.in)
		})
	}
}

func TestNormalizeCitizenID(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  string
		valid bool
	}{
		{"ok/lower-x", "11010519491231002x", "11010519491231002X", true},
		{"ok/spaces-tabs-newline", " \t11010519491231002x\r\n", "11010519491231002X", true},
		{"ok/already-normal", "11010519491231002X", "11010519491231002X", true},
		{"ok/no-letters", "  320582199511087716 ", "320582199511087716", true},
		{"fail/inner-space-kept", "110105 19491231002x", "110105 19491231002X", false},
		{"fail/non-ascii-untouched", "ｘ11010519491231002", "ｘ11010519491231002", false},
		{"fail/empty", "   ", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := NormalizeCitizenID(tc.in)
			if got != tc.want {
				t.Fatalf("NormalizeCitizenID(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := NormalizeCitizenID(got); again != got {
				t.Errorf("not idempotent: %q -> %q", got, again)
			}
			if err := ValidateCitizenIDAt(got, fixedNow); (err == nil) != tc.valid {
				t.Errorf("valid = %v, want %v (err %v)", err == nil, tc.valid, err)
			}
		})
	}
}
