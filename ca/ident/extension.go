package ident

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strconv"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxExtensionValue is the largest extension value, in bytes, that
// [IdentityCodeFrom] and [USCCFrom] parse; larger values are rejected with
// [ErrLength] before any decoding.
const MaxExtensionValue = 64

// IdentifyCode CHOICE alternatives of GM/T 0015-2012 (IMPLICIT tags).
const (
	tagResidentCard    cbasn1.Tag = 0x80 // residenterCardNumber [0]
	tagMilitaryOfficer cbasn1.Tag = 0x81 // militaryOfficerCardNumber [1]
	tagPassport        cbasn1.Tag = 0x82 // passportNumber [2]
	tagConstructed     cbasn1.Tag = 0x20 // constructed bit of an identifier octet
)

// OIDIdentityCode returns a new copy of 1.2.156.10260.4.1.1, the GM/T 0015
// identity code (个人身份标识码) extension.
func OIDIdentityCode() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 156, 10260, 4, 1, 1}
}

// OIDUSCC returns a new copy of 1.2.156.10260.4.4, the unified social credit
// code (统一社会信用代码) extension.
func OIDUSCC() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 156, 10260, 4, 4}
}

// OIDOrganizationCode returns a new copy of 1.2.156.10260.4.1.4, the GM/T
// 0015-2012 organisation code (企业组织机构代码) extension, which many CAs
// fill with the unified social credit code. [USCCFrom] reads it as a
// fallback; Tongxing does not write it.
func OIDOrganizationCode() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 156, 10260, 4, 1, 4}
}

// OIDBusinessRegistrationNumber returns a new copy of 1.2.156.10260.4.1.3,
// the GM/T 0015-2012 business registration number (企业工商注册号) extension,
// which many CAs fill with the unified social credit code. [USCCFrom] reads
// it as a fallback; Tongxing does not write it.
func OIDBusinessRegistrationNumber() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 156, 10260, 4, 1, 3}
}

// IdentityCodeExtension validates id with [ValidateCitizenID] and returns the
// non-critical GM/T 0015 identity code extension holding it as
// residenterCardNumber: the value is [0] IMPLICIT PrintableString, DER
// 0x80 0x12 followed by the 18 characters. id must be normalised.
//
// Putting a real identity number in a certificate discloses it to every
// relying party; Tongxing's default is a [Pseudonym] in the subject instead.
func IdentityCodeExtension(id string) (pkix.Extension, error) {
	if err := ValidateCitizenID(id); err != nil {
		return pkix.Extension{}, err
	}
	return newExtension(OIDIdentityCode(), tagResidentCard, id, FieldIDNumber)
}

// USCCExtension validates code with [ValidateUSCC] and returns the
// non-critical unified social credit code extension (1.2.156.10260.4.4)
// whose value is the code as a DER PrintableString. code must be normalised.
func USCCExtension(code string) (pkix.Extension, error) {
	if err := ValidateUSCC(code); err != nil {
		return pkix.Extension{}, err
	}
	return newExtension(OIDUSCC(), cbasn1.PrintableString, code, FieldUSCC)
}

// IdentityCodeFrom finds the GM/T 0015 identity code extension in exts and
// returns the citizen identity number it holds. ok is false, with a nil
// error, when the extension is absent. The value must be at most
// [MaxExtensionValue] bytes of DER holding exactly one residenterCardNumber
// [0] IMPLICIT PrintableString with no trailing data, and the number must
// pass [ValidateCitizenID]; otherwise ok is true and err is an [*Error]
// (Field [FieldIDNumber]). A military officer card or passport number gives
// [ErrUnsupported]; the extension appearing twice gives [ErrEncoding]. The
// critical flag is not checked.
func IdentityCodeFrom(exts []pkix.Extension) (id string, ok bool, err error) {
	ext, found, err := findOne(exts, OIDIdentityCode(), FieldIDNumber)
	if !found || err != nil {
		return "", found, err
	}
	tag, s, err := decodeString(ext.Value, FieldIDNumber)
	if err != nil {
		return "", true, err
	}
	switch tag {
	case tagResidentCard:
	case tagMilitaryOfficer:
		return "", true, newError(ErrUnsupported, FieldIDNumber, s, "identity code holds a military officer card number")
	case tagPassport:
		return "", true, newError(ErrUnsupported, FieldIDNumber, s, "identity code holds a passport number")
	default:
		return "", true, newError(ErrEncoding, FieldIDNumber, string(ext.Value), "identity code tag is not [0], [1] or [2]")
	}
	if !isPrintableString(s) {
		return "", true, newError(ErrEncoding, FieldIDNumber, s, "content is not a valid PrintableString")
	}
	if err := ValidateCitizenID(s); err != nil {
		return "", true, err
	}
	return s, true, nil
}

// USCCFrom finds the unified social credit code in exts. It reads
// 1.2.156.10260.4.4 and, only when that is absent, the older
// 1.2.156.10260.4.1.4 and then 1.2.156.10260.4.1.3. Each value must be at
// most [MaxExtensionValue] bytes of DER holding exactly one PrintableString
// or UTF8String with no trailing data. Under the older arcs a well-formed
// string that is not 18 bytes long is taken to be a pre-2015 organisation
// code or registration number and skipped. The code found must pass
// [ValidateUSCC]. ok is false, with a nil error, when no code is found;
// otherwise a failure gives ok true and an [*Error] (Field [FieldUSCC]). An
// arc appearing twice gives [ErrEncoding]. The critical flag is not checked.
func USCCFrom(exts []pkix.Extension) (code string, ok bool, err error) {
	oids := [...]asn1.ObjectIdentifier{OIDUSCC(), OIDOrganizationCode(), OIDBusinessRegistrationNumber()}
	for i, oid := range oids {
		ext, found, err := findOne(exts, oid, FieldUSCC)
		if err != nil {
			return "", true, err
		}
		if !found {
			continue
		}
		tag, s, err := decodeString(ext.Value, FieldUSCC)
		if err != nil {
			return "", true, err
		}
		switch tag {
		case cbasn1.PrintableString:
			if !isPrintableString(s) {
				return "", true, newError(ErrEncoding, FieldUSCC, s, "content is not a valid PrintableString")
			}
		case cbasn1.UTF8String:
			if !utf8.ValidString(s) {
				return "", true, newError(ErrEncoding, FieldUSCC, s, "content is not valid UTF-8")
			}
		default:
			return "", true, newError(ErrEncoding, FieldUSCC, string(ext.Value), "value is not a PrintableString or UTF8String")
		}
		if i > 0 && len(s) != USCCLen {
			continue
		}
		if err := ValidateUSCC(s); err != nil {
			return "", true, err
		}
		return s, true, nil
	}
	return "", false, nil
}

// findOne returns the only extension in exts with the given id.
func findOne(exts []pkix.Extension, id asn1.ObjectIdentifier, field string) (pkix.Extension, bool, error) {
	var (
		ext   pkix.Extension
		found bool
	)
	for _, e := range exts {
		if !e.Id.Equal(id) {
			continue
		}
		if found {
			return pkix.Extension{}, true, newError(ErrEncoding, field, string(e.Value), "extension "+id.String()+" appears more than once")
		}
		ext, found = e, true
	}
	return ext, found, nil
}

// decodeString reads one DER element with a primitive tag from der, which
// must be at most MaxExtensionValue bytes and hold nothing else, and returns
// its tag and contents.
func decodeString(der []byte, field string) (cbasn1.Tag, string, error) {
	if len(der) > MaxExtensionValue {
		return 0, "", &Error{Field: field, Value: "len=" + strconv.Itoa(len(der)), Reason: "extension value exceeds " + strconv.Itoa(MaxExtensionValue) + " bytes", Kind: ErrLength}
	}
	in := cryptobyte.String(der)
	var (
		content cryptobyte.String
		tag     cbasn1.Tag
	)
	if !in.ReadAnyASN1(&content, &tag) {
		return 0, "", newError(ErrEncoding, field, string(der), "extension value is not one DER element")
	}
	if !in.Empty() {
		return 0, "", newError(ErrEncoding, field, string(der), "trailing data after the DER element")
	}
	if tag&tagConstructed != 0 {
		return 0, "", newError(ErrEncoding, field, string(der), "string element must be primitive")
	}
	return tag, string(content), nil
}

// newExtension returns a non-critical extension whose value is the DER of
// the validated string s under a primitive tag.
func newExtension(id asn1.ObjectIdentifier, tag cbasn1.Tag, s, field string) (pkix.Extension, error) {
	var b cryptobyte.Builder
	b.AddASN1(tag, func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
	der, err := b.Bytes()
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("ident: encode %s extension %s: %w", field, id, err)
	}
	return pkix.Extension{Id: id, Value: der}, nil
}

// isPrintableString reports whether s uses only the PrintableString
// characters of X.680: A-Z a-z 0-9 space ' ( ) + , - . / : = ?
func isPrintableString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == ' ', c == '\'', c == '(', c == ')', c == '+', c == ',', c == '-', c == '.', c == '/', c == ':', c == '=', c == '?':
		default:
			return false
		}
	}
	return true
}
