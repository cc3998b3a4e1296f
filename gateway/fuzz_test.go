package gateway

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/auditlog"
)

func TestFilterFields(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{"ok/object", `{"a":1,"b":{"x":2},"c":"z"}`, `{"a":1,"c":"z"}`, false},
		{"ok/array", `[{"a":1,"d":2},{"c":3}]`, `[{"a":1},{"c":3}]`, false},
		{"ok/big-number", `{"a":12345678901234567890123}`, `{"a":12345678901234567890123}`, false},
		{"ok/html-kept", `{"a":"<b>&"}`, `{"a":"<b>&"}`, false},
		{"ok/order-kept-compacted", `{ "c" : [1, {"x": 2}], "b": 3, "a" : "y" }`, `{"c":[1,{"x":2}],"a":"y"}`, false},
		{"ok/escaped-name", `{"\u0061":1,"\u0062":2}`, `{"a":1}`, false},
		{"fail/disallowed-twice", `{"b":1,"b":2,"a":1}`, "", true},
		{"fail/invalid-utf8", "{\"a\":\"\xff\"}", "", true},
		{"ok/empty", `[]`, `[]`, false},
		{"ok/empty-objects", `[{},{"b":1}]`, `[{},{}]`, false},
		{"fail/allowed-twice", `{"a":1,"a":2}`, "", true},
		{"fail/allowed-twice-escaped", `{"a":1,"\u0061":2}`, "", true},
		{"fail/array-of-arrays", `[[{"a":1}]]`, "", true},
		{"fail/mixed-array", `[{"a":1},2]`, "", true},
		{"fail/scalar", `"a"`, "", true},
		{"fail/array-of-scalars", `[1,2]`, "", true},
		{"fail/trailing", `{"a":1} {"b":2}`, "", true},
		{"fail/invalid", `{"a":`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := FilterFields([]byte(tc.in), []string{"a", "c"})
			if tc.err {
				if !errors.Is(err, ErrNotFilterable) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || string(out) != tc.want {
				t.Fatalf("%s %v, want %s", out, err, tc.want)
			}
		})
	}
}

// TestFilterFieldsMemory: filtering a response of MaxFilteredResponse
// bytes takes memory of about its size, not a tree of it many times over.
func TestFilterFieldsMemory(t *testing.T) {
	var b bytes.Buffer
	b.WriteByte('[')
	for b.Len() < DefaultMaxFilteredResponse-32 {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`{"a":1,"b":"x"}`)
	}
	b.WriteByte(']')
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out, err := FilterFields(b.Bytes(), []string{"a"})
	runtime.ReadMemStats(&after)
	if err != nil || !bytes.HasPrefix(out, []byte(`[{"a":1},{"a":1}`)) {
		t.Fatalf("%.40s %v", out, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*uint64(b.Len()) {
		t.Fatalf("filtering %d bytes allocated %d bytes", b.Len(), alloc)
	}
}

// FuzzFilterFields: output is valid JSON holding no member outside the
// allowed ones at the top level (or in top-level array elements).
func FuzzFilterFields(f *testing.F) {
	for _, s := range []string{`{"a":1,"secret":2}`, `[{"a":1,"secret":2}]`, `{"a":{"secret":1}}`, `[]`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := FilterFields(in, []string{"a"})
		if err != nil {
			if !errors.Is(err, ErrNotFilterable) {
				t.Fatalf("error does not wrap ErrNotFilterable: %v", err)
			}
			return
		}
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("output is not JSON: %q", out)
		}
		check := func(x any) {
			m, ok := x.(map[string]any)
			if !ok {
				t.Fatalf("non-object passed: %q", out)
			}
			for k := range m {
				if k != "a" {
					t.Fatalf("member %q passed: %q", k, out)
				}
			}
		}
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				check(e)
			}
		default:
			check(x)
		}
	})
}

// FuzzParsePurpose: an accepted purpose is a valid code; refusals are
// *HeaderError.
func FuzzParsePurpose(f *testing.F) {
	for _, s := range []string{"P-IIT-VERIFY", "", " P ", "a b", "P\u4e2d", strings.Repeat("x", 200)} {
		f.Add(s, false)
	}
	f.Add("P-A", true)
	f.Fuzz(func(t *testing.T, v string, twice bool) {
		h := http.Header{}
		h.Add(HeaderPurpose, v)
		if twice {
			h.Add(HeaderPurpose, v)
		}
		p, err := ParsePurpose(h)
		if err != nil {
			var he *HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("error %T", err)
			}
			return
		}
		if twice || !auditlog.ValidPurpose(p) {
			t.Fatalf("accepted %q (twice %v)", p, twice)
		}
	})
}

// FuzzParseBearer: an accepted token is 1..MaxBearerLen b64token
// characters taken from a Bearer credential.
func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc.def-ghi_", "bearer x", "Basic dXNlcg==", "Bearer ", "Bearer a b", "Bearer  x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, err := ParseBearer(http.Header{"Authorization": {v}})
		if err != nil {
			var he *HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("error %T: %v", err, err)
			}
			return
		}
		if tok == "" || len(tok) > MaxBearerLen || strings.ContainsAny(tok, " \t\r\n\"") || !strings.HasSuffix(v, tok) {
			t.Fatalf("accepted %q from %q", tok, v)
		}
	})
}

// FuzzVerifyEvidence: the upstream verifier never panics on hostile
// headers and accepts nothing the gateway did not sign.
func FuzzVerifyEvidence(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := NewCallerSigner(key, nil)
	if err != nil {
		f.Fatal(err)
	}
	v := &Verifier{Keys: signer.KeySet(), Audience: "renshe", TSARoots: newTestTSA(f).roots(), Replay: NewMemoryReplayCache(nil)}
	f.Add("eyJhbGciOiJFUzI1NiJ9.e30.AA", "MAA=", []byte("body"))
	f.Add("", "", []byte(nil))
	f.Add("a.b.c", "!!!", []byte("x"))
	f.Fuzz(func(t *testing.T, caller, ts string, body []byte) {
		h := http.Header{}
		h.Set(HeaderCaller, caller)
		h.Set(HeaderTimestamp, ts)
		if _, err := v.Verify("GET", "/v1/x", "", h, body); err == nil {
			t.Fatalf("accepted forged evidence %q %q", caller, ts)
		}
		_, _ = ParseTimestampHeader(ts)
		_ = bytes.Compare(body, nil)
	})
}
