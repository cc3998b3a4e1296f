package problem_test

import (
	"bytes"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/tongxing/tongxing/problem"
)

// FuzzDecodeJSON feeds arbitrary bodies to DecodeJSON: it never panics,
// answers only 400 or 413, and whatever it accepts decodes to strings that
// are exactly the valid UTF-8 the body held (no silent U+FFFD repair).
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"name":"张三","tags":["a","b"],"sub":{"x":"y"}}`))
	f.Add([]byte("{\"name\":\"\xff\"}"))
	f.Add([]byte(`{"name":"\ud800"}`))
	f.Add([]byte(`{"name":"\ud83d\ude00"}`))
	f.Add([]byte(`{"sub":{"x":"\\ud800"}}`))
	f.Add([]byte(`[1,{"a":[{"b":"c"}]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v struct {
			Name string            `json:"name"`
			Tags []string          `json:"tags"`
			Sub  map[string]string `json:"sub"`
		}
		req := httptest.NewRequest("POST", "/", bytes.NewReader(b))
		err := problem.DecodeJSON(httptest.NewRecorder(), req, 4096, &v)
		if err != nil {
			if s := problem.From(err).Status; s != 400 && s != 413 {
				t.Fatalf("status %d for %q", s, b)
			}
			return
		}
		strs := append([]string{v.Name}, v.Tags...)
		for k, x := range v.Sub {
			strs = append(strs, k, x)
		}
		for _, s := range strs {
			if !utf8.ValidString(s) {
				t.Fatalf("accepted invalid UTF-8 %q from %q", s, b)
			}
			if bytes.ContainsRune([]byte(s), utf8.RuneError) && !bytes.Contains(b, []byte("\uFFFD")) && !bytes.Contains(bytes.ToLower(b), []byte(`\ufffd`)) {
				t.Fatalf("accepted a repaired string %q from %q", s, b)
			}
		}
	})
}
