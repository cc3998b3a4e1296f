package problem

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// checkJSONText refuses a JSON body whose strings are not valid UTF-8 or
// hold an unpaired UTF-16 surrogate escape ("\ud800"): encoding/json would
// silently replace both with U+FFFD, so a name would reach a certificate in
// a form nobody typed. The error names the field (dotted path, as in
// [Error.Field]) of the first such string. Malformed JSON passes: the
// decoder reports it.
func checkJSONText(body []byte) error {
	if utf8.Valid(body) && !bytes.Contains(body, []byte(`\u`)) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object  bool
		wantKey bool
		key     string
	}
	var stack []frame
	path := func(extra string) string {
		var parts []string
		for _, f := range stack {
			if f.object && f.key != "" {
				parts = append(parts, f.key)
			}
		}
		if extra != "" {
			parts = append(parts, extra)
		}
		return strings.Join(parts, ".")
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		raw := body[start:dec.InputOffset()]
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{object: true, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:top]
				if top > 0 && stack[top-1].object {
					stack[top-1].wantKey = true
				}
			}
			continue
		case string:
			isKey := top >= 0 && stack[top].object && stack[top].wantKey
			if reason := badJSONString(raw); reason != "" {
				if isKey {
					return &Error{Status: 400, Field: path(""), Detail: "an object key " + reason}
				}
				return &Error{Status: 400, Field: path(""), Detail: reason}
			}
			if isKey {
				stack[top].key, stack[top].wantKey = t, false
				continue
			}
		}
		if top >= 0 && stack[top].object {
			stack[top].wantKey = true
		}
	}
}

// badJSONString says what is wrong with the raw bytes of one JSON string
// token (with any whitespace and separators before it), or "".
func badJSONString(raw []byte) string {
	if !utf8.Valid(raw) {
		return "is not valid UTF-8"
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			continue
		}
		i++
		if raw[i] != 'u' {
			continue
		}
		r, ok := hex4(raw, i+1)
		if !ok {
			continue
		}
		i += 4
		switch {
		case utf16.IsSurrogate(r) && r < 0xdc00:
			if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				if lo, ok := hex4(raw, i+3); ok && lo >= 0xdc00 && lo <= 0xdfff {
					i += 6
					continue
				}
			}
			return "holds an unpaired UTF-16 surrogate escape"
		case utf16.IsSurrogate(r):
			return "holds an unpaired UTF-16 surrogate escape"
		}
	}
	return ""
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
