package main

import (
	_ "embed"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// minPassphrase is the shortest CA key passphrase init accepts, in
// characters.
const minPassphrase = 12

//go:embed common-passwords.txt
var commonPasswordsText string

// commonPasswords is the list of common-passwords.txt.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(commonPasswordsText, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			m[l] = true
		}
	}
	return m
}()

// weakPassphrase says why pass is too weak to protect CA keys, or "" when
// it is not: shorter than minPassphrase characters, of fewer than 5
// distinct characters, digits only, or a common password (with digits and
// punctuation around it removed, ignoring case and spaces).
func weakPassphrase(pass []byte) string {
	s := string(pass)
	if !utf8.ValidString(s) {
		return ""
	}
	n := utf8.RuneCountInString(s)
	if n < minPassphrase {
		return fmt.Sprintf("it has %d characters, fewer than %d", n, minPassphrase)
	}
	distinct := map[rune]bool{}
	digits := true
	for _, r := range s {
		distinct[r] = true
		digits = digits && unicode.IsDigit(r)
	}
	if len(distinct) < 5 {
		return fmt.Sprintf("it uses only %d different characters", len(distinct))
	}
	if digits {
		return "it is only digits"
	}
	lower := strings.ToLower(s)
	core := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	squashed := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' || r == '_' || r == '.' {
			return -1
		}
		return r
	}, lower)
	letters := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return r
		}
		return -1
	}, lower)
	for _, c := range []string{lower, core, squashed, strings.TrimFunc(squashed, func(r rune) bool { return !unicode.IsLetter(r) }), letters, period(letters)} {
		if commonPasswords[c] {
			return fmt.Sprintf("it is a common password (%q is in the list of common passwords)", c)
		}
	}
	return ""
}

// period returns the shortest string whose repetition is s ("abcabc" →
// "abc"), or s.
func period(s string) string {
	for k := 1; k <= len(s)/2; k++ {
		if len(s)%k == 0 && strings.Repeat(s[:k], len(s)/k) == s {
			return s[:k]
		}
	}
	return s
}
