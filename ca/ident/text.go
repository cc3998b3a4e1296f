package ident

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// FieldName names a person's or organisation's name in [Error.Field].
const FieldName = "name"

// CheckName checks a name a certificate will carry (a person, agent,
// organisation or signer): valid UTF-8 of at most max characters, and
// nothing that displays differently from what it is or not at all. It
// refuses, naming the character by its code point:
//
//   - bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E,
//     U+2066-U+2069), which reorder what a reader sees ("U+202E" turns
//     "invoice‮fdp.exe" into "invoiceexe.pdf");
//   - zero-width and other invisible format characters (Unicode category
//     Cf: U+200B-U+200D, U+2060-U+2064, U+FEFF, U+00AD, ...), which make
//     two different names look the same;
//   - C0 and C1 controls and DEL (category Cc), line and paragraph
//     separators (U+2028, U+2029), private-use code points and
//     noncharacters;
//   - U+FFFD, the replacement character, which only damaged text holds.
//
// It does NOT check that the name is a real name, that its script is
// consistent, or for visually confusable letters from different scripts.
// Errors are [*Error]s on field "name" of kind ErrEncoding (invalid UTF-8),
// ErrLength or ErrCharset; they never quote the name.
func CheckName(s string, max int) error {
	if !utf8.ValidString(s) {
		return newError(ErrEncoding, FieldName, s, "not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return newError(ErrLength, FieldName, s, fmt.Sprintf("%d characters, at most %d allowed", n, max))
	}
	pos := 0
	for _, r := range s {
		pos++
		if what := refusedRune(r); what != "" {
			return newError(ErrCharset, FieldName, s, fmt.Sprintf("character %d is %s U+%04X", pos, what, r))
		}
	}
	return nil
}

// refusedRune says what kind of character r is if a name may not hold it.
func refusedRune(r rune) string {
	switch {
	case r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
		return "the bidirectional control"
	case (r >= 0x200b && r <= 0x200d) || r == 0x2060 || r == 0xfeff:
		return "the zero-width character"
	case unicode.Is(unicode.Cc, r):
		return "the control character"
	case unicode.Is(unicode.Cf, r):
		return "the invisible format character"
	case r == 0x2028 || r == 0x2029:
		return "the line or paragraph separator"
	case unicode.Is(unicode.Co, r):
		return "the private-use character"
	case (r >= 0xfdd0 && r <= 0xfdef) || r&0xfffe == 0xfffe:
		return "the noncharacter"
	case r == utf8.RuneError:
		return "the replacement character"
	}
	return ""
}
