package ident

import (
	"strconv"
	"strings"
	"time"
)

// CitizenIDLen is the length of a GB 11643-1999 citizen identity number.
const CitizenIDLen = 18

// NormalizeCitizenID trims leading and trailing white space and upper-cases
// ASCII letters, so " 11010519491231002x" becomes "11010519491231002X".
// It is the only way a lower-case check character x is accepted. It is
// idempotent and does NOT validate: call [ValidateCitizenID] on its result.
func NormalizeCitizenID(s string) string {
	return normalize(s)
}

// ValidateCitizenID checks that s is a GB 11643-1999 citizen identity number,
// using today's date in China Standard Time (UTC+8) as the latest allowed
// birth date. See [ValidateCitizenIDAt] for the checks; s must already be
// normalised (see [NormalizeCitizenID]).
func ValidateCitizenID(s string) error {
	return ValidateCitizenIDAt(s, time.Now().In(chinaStandardTime()))
}

// ValidateCitizenIDAt checks that s is a GB 11643-1999 citizen identity
// number, with now's calendar date in now's location as "today". In order:
//
//   - exactly 18 bytes ([ErrLength]);
//   - 17 digits then a check character 0-9 or upper-case X ([ErrCharset]);
//   - the region code starts with 1-9 ([ErrSegment]);
//   - the birth date YYYYMMDD at positions 7-14 is a real Gregorian date,
//     not before 1900-01-01 and not after today ([ErrDate]);
//   - the ISO 7064 MOD 11-2 check character matches ([ErrChecksum]).
//
// Every failure is an [*Error] with Field [FieldIDNumber]. It does NOT check
// the region code against GB/T 2260 nor accept 15-digit numbers.
func ValidateCitizenIDAt(s string, now time.Time) error {
	fail := func(kind Kind, reason string) error {
		return newError(kind, FieldIDNumber, s, reason)
	}
	if len(s) != CitizenIDLen {
		return fail(ErrLength, "want 18 characters, got "+strconv.Itoa(len(s)))
	}
	for i := 0; i < CitizenIDLen-1; i++ {
		if !isDigit(s[i]) {
			return fail(ErrCharset, "position "+strconv.Itoa(i+1)+" is not a digit")
		}
	}
	switch c := s[CitizenIDLen-1]; {
	case c == 'x':
		return fail(ErrCharset, "check character must be upper-case X; normalise first")
	case !isDigit(c) && c != 'X':
		return fail(ErrCharset, "check character is not 0-9 or X")
	}
	if s[0] == '0' {
		return fail(ErrSegment, "region code must start with 1-9")
	}
	if reason := checkBirthDate(s[6:14], now); reason != "" {
		return fail(ErrDate, reason)
	}
	if citizenCheck(s[:CitizenIDLen-1]) != s[CitizenIDLen-1] {
		return fail(ErrChecksum, "ISO 7064 MOD 11-2 check character does not match")
	}
	return nil
}

// checkBirthDate returns why the 8 digits ymd are not an allowed birth date,
// or "" if they are.
func checkBirthDate(ymd string, now time.Time) string {
	y, _ := strconv.Atoi(ymd[0:4])
	m, _ := strconv.Atoi(ymd[4:6])
	d, _ := strconv.Atoi(ymd[6:8])
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if m < 1 || m > 12 || d < 1 || t.Year() != y || int(t.Month()) != m || t.Day() != d {
		return "birth date is not a calendar date"
	}
	if y < 1900 {
		return "birth date is before 1900-01-01"
	}
	ny, nm, nd := now.Date()
	if y*10000+m*100+d > ny*10000+int(nm)*100+nd {
		return "birth date is after today"
	}
	return ""
}

// citizenCheck computes the ISO 7064 MOD 11-2 check character of the 17
// digits body: weights 2^(17-i) mod 11, check value (12 - sum mod 11) mod 11,
// written X for 10.
func citizenCheck(body string) byte {
	weights := [CitizenIDLen - 1]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(body[i]-'0') * w
	}
	return "10X98765432"[sum%11]
}

// chinaStandardTime is UTC+8 without daylight saving, the zone in which
// birth dates in identity numbers are written.
func chinaStandardTime() *time.Location {
	return time.FixedZone("CST", 8*60*60)
}

// normalize trims surrounding white space and upper-cases ASCII letters.
func normalize(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
