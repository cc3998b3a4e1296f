package ident

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
)

const (
	gbExampleID  = "11010519491231002X"
	exampleUSCC  = "91350100M000100Y43"
	exampleUSCC2 = "91310115591693856A"
	// goldenIdentityCodeExt is the DER of the whole pkix.Extension for
	// gbExampleID: SEQUENCE { OID 1.2.156.10260.4.1.1, OCTET STRING {
	// [0] IMPLICIT PrintableString "11010519491231002X" } }, critical omitted
	// (DEFAULT FALSE). Checked with `openssl asn1parse -inform DER -i` and
	// `-strparse 14`, which shows "prim: cont [ 0 ]" of length 18.
	goldenIdentityCodeExt = "3020" + "06082a811cd014040101" + "0414" + "8012" + "313130313035313934393132333130303258"
	// goldenUSCCValue is the extension value for exampleUSCC: PrintableString.
	goldenUSCCValue = "1312" + "39313335303130304d3030303130305934" + "33"
)

// der builds a DER string element by hand: tag, short-form length, contents.
func der(tag byte, s string) []byte {
	return append([]byte{tag, byte(len(s))}, s...)
}

func ext(oid asn1.ObjectIdentifier, value []byte) pkix.Extension {
	return pkix.Extension{Id: oid, Value: value}
}

func TestOIDs(t *testing.T) {
	tests := []struct {
		name string
		fn   func() asn1.ObjectIdentifier
		want string
	}{
		{"ok/identity-code", OIDIdentityCode, "1.2.156.10260.4.1.1"},
		{"ok/uscc", OIDUSCC, "1.2.156.10260.4.4"},
		{"ok/organization-code", OIDOrganizationCode, "1.2.156.10260.4.1.4"},
		{"ok/business-registration-number", OIDBusinessRegistrationNumber, "1.2.156.10260.4.1.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oid := tc.fn()
			if oid.String() != tc.want {
				t.Fatalf("got %s, want %s", oid, tc.want)
			}
			oid[len(oid)-1] = 99 // a caller mutating its copy must not affect the next call
			if got := tc.fn().String(); got != tc.want {
				t.Errorf("after mutating a returned copy, got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestExtensionGolden(t *testing.T) {
	e, err := IdentityCodeExtension(gbExampleID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := asn1.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != goldenIdentityCodeExt {
		t.Errorf("identity code extension DER\n got %x\nwant %s", got, goldenIdentityCodeExt)
	}
	u, err := USCCExtension(exampleUSCC)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(u.Value) != strings.ToLower(goldenUSCCValue) {
		t.Errorf("USCC extension value\n got %x\nwant %s", u.Value, goldenUSCCValue)
	}
	if e.Critical || u.Critical {
		t.Error("extensions must be non-critical")
	}
}

// TestExtensionOpenSSL has OpenSSL 3 parse the identity code extension value.
func TestExtensionOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	tests := []struct {
		name, want string
		value      func(t *testing.T) []byte
	}{
		{"ok/identity-code", "prim: cont [ 0 ]", func(t *testing.T) []byte {
			e, err := IdentityCodeExtension(gbExampleID)
			if err != nil {
				t.Fatal(err)
			}
			return e.Value
		}},
		{"ok/uscc", "prim: PRINTABLESTRING   :" + exampleUSCC, func(t *testing.T) []byte {
			e, err := USCCExtension(exampleUSCC)
			if err != nil {
				t.Fatal(err)
			}
			return e.Value
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(openssl, "asn1parse", "-inform", "DER")
			cmd.Stdin = bytes.NewReader(tc.value(t))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("openssl asn1parse: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "l=  18") {
				t.Errorf("openssl asn1parse output %q lacks %q with length 18", out, tc.want)
			}
		})
	}
}

func TestExtensionConstructors(t *testing.T) {
	tests := []struct {
		name  string
		build func() (pkix.Extension, error)
		field string
		input string
		want  Kind
	}{
		{"ok/identity-code", func() (pkix.Extension, error) { return IdentityCodeExtension(gbExampleID) }, FieldIDNumber, gbExampleID, 0},
		{"ok/uscc", func() (pkix.Extension, error) { return USCCExtension(exampleUSCC) }, FieldUSCC, exampleUSCC, 0},
		{"fail/identity-code-length", func() (pkix.Extension, error) { return IdentityCodeExtension("1101051949") }, FieldIDNumber, "1101051949", ErrLength},
		{"fail/identity-code-lower-x", func() (pkix.Extension, error) { return IdentityCodeExtension("11010519491231002x") }, FieldIDNumber, "11010519491231002x", ErrCharset},
		{"fail/identity-code-checksum", func() (pkix.Extension, error) { return IdentityCodeExtension("110105194912310021") }, FieldIDNumber, "110105194912310021", ErrChecksum},
		{"fail/identity-code-date", func() (pkix.Extension, error) { return IdentityCodeExtension("440524188001010014") }, FieldIDNumber, "440524188001010014", ErrDate},
		{"fail/uscc-charset", func() (pkix.Extension, error) { return USCCExtension("91350100M000100Y4I") }, FieldUSCC, "91350100M000100Y4I", ErrCharset},
		{"fail/uscc-checksum", func() (pkix.Extension, error) { return USCCExtension("91350100M000100Y44") }, FieldUSCC, "91350100M000100Y44", ErrChecksum},
		{"fail/uscc-segment", func() (pkix.Extension, error) { return USCCExtension("94110000MA001234XD") }, FieldUSCC, "94110000MA001234XD", ErrSegment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := tc.build()
			checkErr(t, err, tc.want, tc.field, tc.input)
			if err != nil {
				if e.Id != nil || e.Value != nil {
					t.Errorf("failed constructor returned a non-zero extension %+v", e)
				}
				return
			}
			if e.Critical || len(e.Value) != 20 {
				t.Errorf("extension %+v: want non-critical with a 20-byte value", e)
			}
		})
	}
}

func TestIdentityCodeFrom(t *testing.T) {
	oid := OIDIdentityCode()
	good := der(0x80, gbExampleID)
	other := ext(asn1.ObjectIdentifier{2, 5, 29, 19}, []byte{0x30, 0x00})
	tests := []struct {
		name   string
		exts   []pkix.Extension
		want   string
		wantOK bool
		kind   Kind
	}{
		{"ok/absent-nil", nil, "", false, 0},
		{"ok/absent-others", []pkix.Extension{other, ext(OIDUSCC(), der(0x13, exampleUSCC))}, "", false, 0},
		{"ok/resident", []pkix.Extension{other, ext(oid, good)}, gbExampleID, true, 0},
		{"ok/critical-flag-ignored", []pkix.Extension{{Id: oid, Critical: true, Value: good}}, gbExampleID, true, 0},
		{"fail/duplicate", []pkix.Extension{ext(oid, good), ext(oid, good)}, "", true, ErrEncoding},
		{"fail/oversize", []pkix.Extension{ext(oid, der(0x80, strings.Repeat("1", 63)))}, "", true, ErrLength},
		{"fail/empty-value", []pkix.Extension{ext(oid, nil)}, "", true, ErrEncoding},
		{"fail/trailing-data", []pkix.Extension{ext(oid, append(der(0x80, gbExampleID), 0x00))}, "", true, ErrEncoding},
		{"fail/truncated", []pkix.Extension{ext(oid, good[:len(good)-1])}, "", true, ErrEncoding},
		{"fail/long-form-length", []pkix.Extension{ext(oid, append([]byte{0x80, 0x81, 0x12}, gbExampleID...))}, "", true, ErrEncoding},
		{"fail/indefinite-length", []pkix.Extension{ext(oid, append(append([]byte{0xa0, 0x80}, der(0x13, gbExampleID)...), 0, 0))}, "", true, ErrEncoding},
		{"fail/explicit-tagging", []pkix.Extension{ext(oid, append([]byte{0xa0, 0x14}, der(0x13, gbExampleID)...))}, "", true, ErrEncoding},
		{"fail/bare-printablestring", []pkix.Extension{ext(oid, der(0x13, gbExampleID))}, "", true, ErrEncoding},
		{"fail/high-tag-number", []pkix.Extension{ext(oid, append([]byte{0x9f, 0x1f, 0x12}, gbExampleID...))}, "", true, ErrEncoding},
		{"fail/military-officer", []pkix.Extension{ext(oid, der(0x81, "JUN2019123456"))}, "", true, ErrUnsupported},
		{"fail/passport", []pkix.Extension{ext(oid, der(0x82, "E12345678"))}, "", true, ErrUnsupported},
		{"fail/not-printablestring", []pkix.Extension{ext(oid, der(0x80, "11010519491231002*"))}, "", true, ErrEncoding},
		{"fail/lower-x", []pkix.Extension{ext(oid, der(0x80, "11010519491231002x"))}, "", true, ErrCharset},
		{"fail/checksum", []pkix.Extension{ext(oid, der(0x80, "110105194912310021"))}, "", true, ErrChecksum},
		{"fail/date", []pkix.Extension{ext(oid, der(0x80, "440524188001010014"))}, "", true, ErrDate},
		{"fail/length", []pkix.Extension{ext(oid, der(0x80, "110105491231002"))}, "", true, ErrLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := IdentityCodeFrom(tc.exts)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("got (%q, %v), want (%q, %v)", got, ok, tc.want, tc.wantOK)
			}
			checkErr(t, err, tc.kind, FieldIDNumber, gbExampleID)
		})
	}
}

func TestUSCCFrom(t *testing.T) {
	cur, org, reg := OIDUSCC(), OIDOrganizationCode(), OIDBusinessRegistrationNumber()
	tests := []struct {
		name   string
		exts   []pkix.Extension
		want   string
		wantOK bool
		kind   Kind
	}{
		{"ok/absent", []pkix.Extension{ext(OIDIdentityCode(), der(0x80, gbExampleID))}, "", false, 0},
		{"ok/printablestring", []pkix.Extension{ext(cur, der(0x13, exampleUSCC))}, exampleUSCC, true, 0},
		{"ok/utf8string", []pkix.Extension{ext(cur, der(0x0c, exampleUSCC))}, exampleUSCC, true, 0},
		{"ok/legacy-organization-code-arc", []pkix.Extension{ext(org, der(0x13, exampleUSCC))}, exampleUSCC, true, 0},
		{"ok/legacy-registration-arc-utf8", []pkix.Extension{ext(reg, der(0x0c, exampleUSCC))}, exampleUSCC, true, 0},
		{"ok/current-arc-wins", []pkix.Extension{ext(org, der(0x13, exampleUSCC2)), ext(cur, der(0x13, exampleUSCC))}, exampleUSCC, true, 0},
		{"ok/organization-code-before-registration", []pkix.Extension{ext(reg, der(0x13, exampleUSCC2)), ext(org, der(0x13, exampleUSCC))}, exampleUSCC, true, 0},
		{"ok/pre-2015-codes-skipped", []pkix.Extension{ext(org, der(0x13, "M000100Y4")), ext(reg, der(0x13, exampleUSCC))}, exampleUSCC, true, 0},
		{"ok/only-pre-2015-codes", []pkix.Extension{ext(org, der(0x13, "M0001000-Y")), ext(reg, der(0x13, "350100100012345"))}, "", false, 0},
		{"fail/current-arc-short", []pkix.Extension{ext(cur, der(0x13, "M000100Y4"))}, "", true, ErrLength},
		{"fail/current-arc-checksum", []pkix.Extension{ext(cur, der(0x13, "91350100M000100Y44")), ext(org, der(0x13, exampleUSCC))}, "", true, ErrChecksum},
		{"fail/legacy-arc-checksum", []pkix.Extension{ext(org, der(0x13, "91350100M000100Y44"))}, "", true, ErrChecksum},
		{"fail/lower-case", []pkix.Extension{ext(cur, der(0x0c, "91350100m000100y43"))}, "", true, ErrCharset},
		{"fail/duplicate-current", []pkix.Extension{ext(cur, der(0x13, exampleUSCC)), ext(cur, der(0x13, exampleUSCC))}, "", true, ErrEncoding},
		{"fail/duplicate-legacy", []pkix.Extension{ext(reg, der(0x13, exampleUSCC)), ext(reg, der(0x13, exampleUSCC))}, "", true, ErrEncoding},
		{"fail/ia5string", []pkix.Extension{ext(cur, der(0x16, exampleUSCC))}, "", true, ErrEncoding},
		{"fail/octet-string", []pkix.Extension{ext(org, der(0x04, exampleUSCC))}, "", true, ErrEncoding},
		{"fail/raw-ascii", []pkix.Extension{ext(cur, []byte(exampleUSCC))}, "", true, ErrEncoding},
		{"fail/constructed", []pkix.Extension{ext(cur, append([]byte{0x33, 0x14}, der(0x13, exampleUSCC)...))}, "", true, ErrEncoding},
		{"fail/trailing-data", []pkix.Extension{ext(cur, append(der(0x13, exampleUSCC), 0x05, 0x00))}, "", true, ErrEncoding},
		{"fail/oversize", []pkix.Extension{ext(cur, der(0x0c, strings.Repeat("9", 63)))}, "", true, ErrLength},
		{"fail/invalid-utf8", []pkix.Extension{ext(cur, der(0x0c, "91350100M000100Y4\xff"))}, "", true, ErrEncoding},
		{"fail/not-printablestring", []pkix.Extension{ext(cur, der(0x13, "91350100M000100Y4_"))}, "", true, ErrEncoding},
		{"fail/utf8-fullwidth", []pkix.Extension{ext(cur, der(0x0c, "９1350100M000100Y4"))}, "", true, ErrLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := USCCFrom(tc.exts)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("got (%q, %v), want (%q, %v)", got, ok, tc.want, tc.wantOK)
			}
			checkErr(t, err, tc.kind, FieldUSCC, exampleUSCC)
		})
	}
}

func TestExtensionRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		id   bool
	}{
		{"ok/identity-gb11643-example", gbExampleID, true},
		{"ok/identity-jiangsu", "320582199511087716", true},
		{"ok/uscc-example", exampleUSCC, false},
		{"ok/uscc-hutool", exampleUSCC2, false},
		{"ok/uscc-authority-Y", "Y1110000MA001234X1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var (
				e   pkix.Extension
				err error
				got string
				ok  bool
			)
			if tc.id {
				if e, err = IdentityCodeExtension(tc.in); err == nil {
					got, ok, err = IdentityCodeFrom([]pkix.Extension{e})
				}
			} else {
				if e, err = USCCExtension(tc.in); err == nil {
					got, ok, err = USCCFrom([]pkix.Extension{e})
				}
			}
			if err != nil || !ok || got != tc.in {
				t.Fatalf("round trip gave (%q, %v, %v), want %q", got, ok, err, tc.in)
			}
			// The extension also survives a DER round trip of pkix.Extension.
			b, err := asn1.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var back pkix.Extension
			if rest, err := asn1.Unmarshal(b, &back); err != nil || len(rest) != 0 {
				t.Fatalf("unmarshal: %v, %d trailing bytes", err, len(rest))
			}
			if !back.Id.Equal(e.Id) || !bytes.Equal(back.Value, e.Value) || back.Critical {
				t.Errorf("pkix round trip changed the extension: %+v != %+v", back, e)
			}
		})
	}
}
