package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
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
// an array holding non-objects, trailing data, invalid JSON — is
// ErrNotFilterable. Numbers are kept verbatim.
func FilterFields(body []byte, allowed []string) ([]byte, error) {
	keep := make(map[string]bool, len(allowed))
	for _, f := range allowed {
		keep[f] = true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotFilterable, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON value", ErrNotFilterable)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("%w: data after the JSON value", ErrNotFilterable)
	}
	filter := func(x any) (map[string]any, error) {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: an element is not an object", ErrNotFilterable)
		}
		for k := range m {
			if !keep[k] {
				delete(m, k)
			}
		}
		return m, nil
	}
	switch t := v.(type) {
	case map[string]any:
		v, _ = filter(t)
	case []any:
		for i := range t {
			m, err := filter(t[i])
			if err != nil {
				return nil, err
			}
			t[i] = m
		}
	default:
		return nil, fmt.Errorf("%w: the body is not an object or an array of objects", ErrNotFilterable)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}
