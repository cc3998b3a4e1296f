package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// ErrNotFilterable means a response under a field obligation is not a JSON
// object or array of objects, so it cannot be minimised; the gateway
// refuses to pass it on.
var ErrNotFilterable = errors.New("gateway: the response cannot be minimised to the allowed fields")

// isJSON reports whether a Content-Type is JSON (application/json or
// application/*+json).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// FilterFields keeps only the allowed top-level members of a JSON object,
// or of every object in a top-level JSON array. Anything else — a scalar,
// an array holding non-objects, trailing data, invalid JSON or UTF-8, a
// member name given twice in an object (parsers keep either value) — is
// ErrNotFilterable. Members keep their order; values are copied verbatim
// (numbers too), compacted. The body is read as a stream of members, never
// held as a tree, so filtering takes memory of about the body's size.
func FilterFields(body []byte, allowed []string) ([]byte, error) {
	f := &fieldFilter{keep: make(map[string]bool, len(allowed)), dec: jsontext.NewDecoder(bytes.NewReader(body))}
	for _, a := range allowed {
		f.keep[a] = true
	}
	f.out.Grow(len(body))
	var err error
	switch f.dec.PeekKind() {
	case '{':
		err = f.object()
	case '[':
		err = f.array()
	default:
		err = fmt.Errorf("%w: the body is not an object or an array of objects", ErrNotFilterable)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.dec.ReadToken(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON value", ErrNotFilterable)
	}
	return f.out.Bytes(), nil
}

// fieldFilter copies the allowed members of the objects dec reads to out.
type fieldFilter struct {
	keep map[string]bool
	dec  *jsontext.Decoder
	out  bytes.Buffer
}

func notFilterable(err error) error { return fmt.Errorf("%w: %v", ErrNotFilterable, err) }

// array copies an array of objects.
func (f *fieldFilter) array() error {
	if _, err := f.dec.ReadToken(); err != nil { // '['
		return notFilterable(err)
	}
	f.out.WriteByte('[')
	for i := 0; f.dec.PeekKind() != ']'; i++ {
		if f.dec.PeekKind() != '{' {
			if _, err := f.dec.ReadValue(); err != nil {
				return notFilterable(err)
			}
			return fmt.Errorf("%w: an element is not an object", ErrNotFilterable)
		}
		if i > 0 {
			f.out.WriteByte(',')
		}
		if err := f.object(); err != nil {
			return err
		}
	}
	if _, err := f.dec.ReadToken(); err != nil { // ']'
		return notFilterable(err)
	}
	f.out.WriteByte(']')
	return nil
}

// object copies an object's allowed members. The decoder refuses a
// member name given twice.
func (f *fieldFilter) object() error {
	if _, err := f.dec.ReadToken(); err != nil { // '{'
		return notFilterable(err)
	}
	f.out.WriteByte('{')
	n := 0
	for f.dec.PeekKind() != '}' {
		tok, err := f.dec.ReadToken()
		if err != nil {
			return notFilterable(err)
		}
		name := tok.String()
		val, err := f.dec.ReadValue()
		if err != nil {
			return notFilterable(err)
		}
		if !f.keep[name] {
			continue
		}
		if n > 0 {
			f.out.WriteByte(',')
		}
		n++
		quoted, err := jsontext.AppendQuote(f.out.AvailableBuffer(), name)
		if err != nil {
			return notFilterable(err)
		}
		f.out.Write(quoted)
		f.out.WriteByte(':')
		if err := val.Compact(); err != nil {
			return notFilterable(err)
		}
		f.out.Write(val)
	}
	if _, err := f.dec.ReadToken(); err != nil { // '}'
		return notFilterable(err)
	}
	f.out.WriteByte('}')
	return nil
}
