package auditlog

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

var citizenKey = []byte("0123456789abcdef0123456789abcdef")

func sampleEntry() Entry {
	return Entry{
		Index: 42,
		Time:  time.Date(2025, 3, 14, 1, 59, 26, 535897932, time.FixedZone("CST", 8*3600)),
		Actor: Actor{
			Subject:    "官员张三",
			Department: "gongan",
			Client:     "portal-\"a\"",
			CertSerial: "1f2e3d",
			SourceAddr: "10.0.0.7:51234",
		},
		Action:         "gateway.call",
		Object:         Object{Resource: "/gw/minzheng/v1/people?id=1&x=<y>", Department: "minzheng"},
		Decision:       DecisionAllow,
		Reasons:        []string{"agreement 2025-17", "tab\there\nnewline\\ \x01 \u2028"},
		RequestDigest:  "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
		TimestampToken: "tsa:serial:0a0b",
		Outcome:        "200",
		Latency:        1234567 * time.Nanosecond,
		CitizenHash:    CitizenHash(citizenKey, "110101199003077777"),
	}
}

func TestCanonicalGolden(t *testing.T) {
	e := sampleEntry()
	got, err := e.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/entry.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("canonical encoding changed:\n got %s\nwant %s", got, want)
	}
	back, err := ParseEntry(want)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Time.Equal(e.Time) || back.Actor != e.Actor || back.Object != e.Object || back.Latency != e.Latency ||
		back.CitizenHash != e.CitizenHash || strings.Join(back.Reasons, "|") != strings.Join(e.Reasons, "|") || back.Index != 42 {
		t.Fatalf("round trip changed the entry: %+v", back)
	}
}

// TestCitizenHash checks HMAC-SM3 against OpenSSL:
// printf 'citizen-110101199003077777' | openssl mac -digest SM3 -macopt hexkey:0001..1f HMAC
func TestCitizenHash(t *testing.T) {
	key := mustHex(t, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	want := "a0dbc1382cf1b91118616787f815c9aedc5bf905f1444e75d280d9afd346e928"
	if got := CitizenHash(key, "citizen-110101199003077777"); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if CitizenHash(key, "a") == CitizenHash(citizenKey, "a") {
		t.Fatal("hash does not depend on the key")
	}
}

func TestParseEntryRejects(t *testing.T) {
	e := sampleEntry()
	good, err := e.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	rep := func(old, new string) []byte {
		if !strings.Contains(s, old) {
			t.Fatalf("sample lacks %q", old)
		}
		return []byte(strings.Replace(s, old, new, 1))
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"fail/empty", nil},
		{"fail/whitespace", rep(`{"index":42,`, `{"index": 42,`)},
		{"fail/leading-zero", rep(`{"index":42,`, `{"index":042,`)},
		{"fail/negative", rep(`"latency_ns":1234567`, `"latency_ns":-1`)},
		{"fail/field-order", rep(`"action":"gateway.call","object"`, `"object"`)},
		{"fail/unknown-field", rep(`"citizen_hash"`, `"x":"","citizen_hash"`)},
		{"fail/trailing", append(bytes.Clone(good), ' ')},
		{"fail/escaped-letter", rep(`"gongan"`, `"gong\u0061n"`)},
		{"fail/escaped-solidus", rep(`1f2e3d`, `1f2e3d\/`)},
		{"fail/u-escape-for-newline", rep(`\n`, `\u000a`)},
		{"fail/upper-hex-escape", rep(`\u0001`, `\u001F`)},
		{"fail/escape-not-control", rep(`\u0001`, `\u0020`)},
		{"fail/raw-control", rep(`\t`, "\t")},
		{"fail/invalid-utf8", rep(`官员`, "\xff\xfe")},
		{"fail/bad-time", rep(`.535897932Z`, `.5358979Z`)},
		{"fail/time-zone", rep(`.535897932Z`, `.535897932+08:00`)},
		{"fail/bad-decision", rep(`"decision":"allow"`, `"decision":"maybe"`)},
		{"fail/bad-citizen-hash", rep(`"citizen_hash":"`, `"citizen_hash":"X`)},
		{"fail/bad-action", rep(`"gateway.call"`, `"gateway call"`)},
		{"fail/reasons-null", rep(`"reasons":[`, `"reasons":null,"x":[`)},
		{"fail/unterminated", good[:len(good)-20]},
		{"fail/too-long", append(bytes.Clone(good), make([]byte, MaxEntrySize)...)},
		{"fail/huge-index", rep(`{"index":42,`, `{"index":184467440737095516150,`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseEntry(tc.in); !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("err = %v, want ErrInvalidEntry for %q", err, tc.in)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Entry)
	}{
		{"ok/sample", func(*Entry) {}},
		{"ok/minimal", func(e *Entry) { *e = Entry{Time: time.Unix(0, 0), Action: "a"} }},
		{"fail/no-action", func(e *Entry) { e.Action = "" }},
		{"fail/long-action", func(e *Entry) { e.Action = strings.Repeat("a", MaxActionLen+1) }},
		{"fail/zero-time", func(e *Entry) { e.Time = time.Time{} }},
		{"fail/far-future", func(e *Entry) { e.Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"fail/decision", func(e *Entry) { e.Decision = "Allow" }},
		{"fail/reasons", func(e *Entry) { e.Reasons = make([]string, MaxReasons+1) }},
		{"fail/latency", func(e *Entry) { e.Latency = -1 }},
		{"fail/long-subject", func(e *Entry) { e.Actor.Subject = strings.Repeat("x", MaxFieldLen+1) }},
		{"fail/long-resource", func(e *Entry) { e.Object.Resource = strings.Repeat("x", MaxResourceLen+1) }},
		{"fail/invalid-utf8", func(e *Entry) { e.Outcome = "\xff" }},
		{"fail/digest-upper", func(e *Entry) { e.RequestDigest = "ABCD" }},
		{"fail/digest-odd", func(e *Entry) { e.RequestDigest = "abc" }},
		{"fail/citizen-short", func(e *Entry) { e.CitizenHash = "abcd" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := sampleEntry()
			tc.mod(&e)
			_, err := e.MarshalCanonical()
			if strings.HasPrefix(tc.name, "ok/") {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("err = %v, want ErrInvalidEntry", err)
			}
		})
	}
}

// FuzzParseEntry checks that whatever ParseEntry accepts re-encodes to the
// same bytes and validates.
func FuzzParseEntry(f *testing.F) {
	e := sampleEntry()
	good, _ := e.MarshalCanonical()
	f.Add(good)
	min := Entry{Time: time.Unix(1, 0), Action: "x"}
	b, _ := min.MarshalCanonical()
	f.Add(b)
	f.Add([]byte(`{"index":0}`))
	x := extendedEntry()
	ext, _ := x.MarshalCanonical()
	f.Add(ext)
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := ParseEntry(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("error does not wrap ErrInvalidEntry: %v", err)
			}
			return
		}
		out, err := e.MarshalCanonical()
		if err != nil {
			t.Fatalf("accepted entry does not marshal: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("accepted non-canonical input\n in %q\nout %q", in, out)
		}
	})
}

func extendedEntry() Entry {
	e := sampleEntry()
	link := uint64(41)
	e.Purpose = "P-IIT-VERIFY"
	e.PolicyRevision = "r-2025.03-\"a\""
	e.DecisionIndex = &link
	return e
}

// TestCanonicalExtendedGolden pins the encoding with every optional
// trailing member; the fixed form's golden (TestCanonicalGolden) is
// unchanged by them.
func TestCanonicalExtendedGolden(t *testing.T) {
	e := extendedEntry()
	got, err := e.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/entry-extended.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("canonical encoding changed:\n got %s\nwant %s", got, want)
	}
	fixed, _ := os.ReadFile("testdata/entry.golden.json")
	if !bytes.HasPrefix(want, fixed[:len(fixed)-1]) {
		t.Fatal("the extended form does not begin with the fixed form")
	}
	back, err := ParseEntry(want)
	if err != nil {
		t.Fatal(err)
	}
	if back.Purpose != e.Purpose || back.PolicyRevision != e.PolicyRevision || back.DecisionIndex == nil || *back.DecisionIndex != 41 {
		t.Fatalf("round trip changed the optional members: %+v", back)
	}
	// Each optional member alone is canonical too.
	for _, mod := range []func(*Entry){
		func(e *Entry) { e.PolicyRevision, e.DecisionIndex = "", nil },
		func(e *Entry) { e.Purpose, e.DecisionIndex = "", nil },
		func(e *Entry) { e.Purpose, e.PolicyRevision = "", "" },
	} {
		x := extendedEntry()
		mod(&x)
		b, err := x.MarshalCanonical()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseEntry(b); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
	}
	if h1, h2 := (Hasher{}).HashLeaf(fixed), (Hasher{}).HashLeaf(want); bytes.Equal(h1, h2) {
		t.Fatal("optional members do not change the leaf hash")
	}
}

func TestParseEntryRejectsOptional(t *testing.T) {
	e := extendedEntry()
	good, err := e.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	rep := func(old, new string) []byte {
		if !strings.Contains(s, old) {
			t.Fatalf("sample lacks %q", old)
		}
		return []byte(strings.Replace(s, old, new, 1))
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"fail/empty-purpose", rep(`"purpose":"P-IIT-VERIFY"`, `"purpose":""`)},
		{"fail/empty-revision", rep(`"policy_revision":"r-2025.03-\"a\""`, `"policy_revision":""`)},
		{"fail/order", rep(`,"purpose":"P-IIT-VERIFY","policy_revision":"r-2025.03-\"a\""`, `,"policy_revision":"r-2025.03-\"a\"","purpose":"P-IIT-VERIFY"`)},
		{"fail/repeated", rep(`,"purpose":"P-IIT-VERIFY"`, `,"purpose":"P-IIT-VERIFY","purpose":"P-IIT-VERIFY"`)},
		{"fail/bad-purpose", rep(`"P-IIT-VERIFY"`, `"P IIT"`)},
		{"fail/index-leading-zero", rep(`"decision_index":41`, `"decision_index":041`)},
		{"fail/index-string", rep(`"decision_index":41`, `"decision_index":"41"`)},
		{"fail/index-overflow", rep(`"decision_index":41`, `"decision_index":9223372036854775808`)},
		{"fail/unknown-trailing", rep(`"decision_index":41`, `"decision_index":41,"x":""`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseEntry(tc.in); !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("err = %v, want ErrInvalidEntry for %q", err, tc.in)
			}
		})
	}
}
