package ident

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strconv"
	"testing"
)

// checkFuzzErr asserts the shape every rejection must have: an *Error of a
// known Kind whose Value reveals at most the length and last four bytes.
func checkFuzzErr(t *testing.T, err error, input string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	known := false
	for _, k := range allKinds {
		known = known || errors.Is(err, k)
	}
	if !known {
		t.Fatalf("error %v matches no Kind", err)
	}
	if e.Value != redact(input) {
		t.Fatalf("Value = %q, want %q", e.Value, redact(input))
	}
	if max := len("len=,last4=") + len(strconv.Itoa(len(input))) + 4; len(e.Value) > max {
		t.Fatalf("Value %q is longer than a redacted description", e.Value)
	}
}

func FuzzValidateCitizenID(f *testing.F) {
	for _, s := range []string{
		"11010519491231002X", "11010519491231002x", " 11010519491231002X ", "440524188001010014",
		"110105200002291235", "110105202506150013", "110105202506160019", "010105194912310026",
		"110105194912310021", "11010519000101001X", "", "X", "１１０１０５１９４９１２３１００２Ｘ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeCitizenID(s)
		if NormalizeCitizenID(n) != n {
			t.Fatalf("NormalizeCitizenID not idempotent on %q", s)
		}
		err := ValidateCitizenIDAt(s, fixedNow)
		if err != nil {
			checkFuzzErr(t, err, s)
			return
		}
		if n != s {
			t.Fatalf("valid %q is not in normal form %q", s, n)
		}
		for _, c := range []byte("0123456789X") {
			if c == s[17] {
				continue
			}
			changed := s[:17] + string(c)
			if err := ValidateCitizenIDAt(changed, fixedNow); !errors.Is(err, ErrChecksum) {
				t.Fatalf("%q with check character %c: got %v, want ErrChecksum", s, c, err)
			}
		}
		if p := Pseudonym([]byte("k"), s); len(p) != 64 || Pseudonym([]byte("k"), " "+s+" ") != p {
			t.Fatalf("Pseudonym(%q) = %q: want 64 characters, stable under normalisation", s, p)
		}
	})
}

func FuzzValidateUSCC(f *testing.F) {
	for _, s := range []string{
		"91350100M000100Y43", "91350100m000100y43", "91310115591693856A", "Y1110000MA001234X1",
		"94110000MA001234XD", "911A0000MA001234XU", "91350100M000100Y44", "91350100I000100Y43", "", "9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeUSCC(s)
		if NormalizeUSCC(n) != n {
			t.Fatalf("NormalizeUSCC not idempotent on %q", s)
		}
		err := ValidateUSCC(s)
		if err != nil {
			checkFuzzErr(t, err, s)
			return
		}
		if n != s {
			t.Fatalf("valid %q is not in normal form %q", s, n)
		}
		for i := 0; i < len(usccAlphabet); i++ {
			c := usccAlphabet[i]
			if c == s[17] {
				continue
			}
			changed := s[:17] + string(c)
			if err := ValidateUSCC(changed); !errors.Is(err, ErrChecksum) {
				t.Fatalf("%q with check character %c: got %v, want ErrChecksum", s, c, err)
			}
		}
	})
}

func FuzzExtensions(f *testing.F) {
	for _, b := range [][]byte{
		der(0x80, gbExampleID), der(0x81, "JUN2019123456"), der(0x82, "E12345678"),
		der(0x13, exampleUSCC), der(0x0c, exampleUSCC), der(0x16, exampleUSCC), der(0x13, "M000100Y4"),
		append(der(0x80, gbExampleID), 0), append([]byte{0x80, 0x81, 0x12}, gbExampleID...),
		append([]byte{0xa0, 0x14}, der(0x13, gbExampleID)...), {0x80}, {}, []byte(exampleUSCC),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, oid := range []asn1.ObjectIdentifier{OIDIdentityCode(), OIDUSCC(), OIDOrganizationCode(), OIDBusinessRegistrationNumber()} {
			exts := []pkix.Extension{{Id: oid, Value: b}}

			id, ok, err := IdentityCodeFrom(exts)
			switch {
			case !oid.Equal(OIDIdentityCode()):
				if ok || err != nil || id != "" {
					t.Fatalf("identity code parser read %s: (%q, %v, %v)", oid, id, ok, err)
				}
			case !ok:
				t.Fatalf("identity code extension present but ok = false (err %v)", err)
			case err != nil:
				if id != "" {
					t.Fatalf("error %v with value %q", err, id)
				}
				var e *Error
				if !errors.As(err, &e) || e.Field != FieldIDNumber {
					t.Fatalf("error %v is not an id_number *Error", err)
				}
			default:
				e, err := IdentityCodeExtension(id)
				if err != nil {
					t.Fatalf("parsed %q does not re-encode: %v", id, err)
				}
				if !bytes.Equal(e.Value, b) {
					t.Fatalf("re-encoding %q gave %x, parsed from %x", id, e.Value, b)
				}
			}

			code, ok, err := USCCFrom(exts)
			switch {
			case oid.Equal(OIDIdentityCode()):
				if ok || err != nil || code != "" {
					t.Fatalf("USCC parser read %s: (%q, %v, %v)", oid, code, ok, err)
				}
			case !ok:
				if err != nil || code != "" {
					t.Fatalf("not found but (%q, %v)", code, err)
				}
			case err != nil:
				var e *Error
				if !errors.As(err, &e) || e.Field != FieldUSCC || code != "" {
					t.Fatalf("error %v with value %q is not a uscc *Error", err, code)
				}
			default:
				if !bytes.Equal(der(b[0], code), b) {
					t.Fatalf("re-encoding %q under tag %#x differs from %x", code, b[0], b)
				}
				if b[0] == 0x13 && oid.Equal(OIDUSCC()) {
					e, err := USCCExtension(code)
					if err != nil || !bytes.Equal(e.Value, b) {
						t.Fatalf("USCCExtension(%q) = %x, %v; parsed from %x", code, e.Value, err, b)
					}
				}
			}
		}
	})
}
