package ocsp

import (
	"bytes"
	"encoding/asn1"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// oidNonce is id-pkix-ocsp-nonce (RFC 6960 §4.4.1, RFC 8954).
var oidNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

// Nonce is the value of an OCSP nonce extension (1.3.6.1.5.5.7.48.1.2).
//
// RFC 8954 defines the extnValue as the DER of an OCTET STRING (SIZE 1..32)
// holding the nonce; some clients put the nonce bytes directly into the
// extnValue. [ParseRequest] records which form it saw in Bare, and
// [CreateResponse] writes the same form back, so the response's extnValue
// equals the request's byte for byte. An extnValue that happens to be the
// DER of a non-empty OCTET STRING is always read as the RFC 8954 form.
// Nothing here enforces the RFC 8954 length range; a responder that wants to
// may drop nonces longer than 32 bytes.
type Nonce struct {
	// Value is the nonce (non-empty).
	Value []byte
	// Bare is true when the extnValue holds Value directly instead of an
	// OCTET STRING containing it.
	Bare bool
}

// extnValue returns the extnValue that carries n.
func (n *Nonce) extnValue() ([]byte, error) {
	if len(n.Value) == 0 {
		return nil, fmt.Errorf("ocsp: empty nonce: %w", ErrInvalidInput)
	}
	if n.Bare {
		return bytes.Clone(n.Value), nil
	}
	var b cryptobyte.Builder
	b.AddASN1OctetString(n.Value)
	return b.Bytes()
}

// parseNonce reads a nonce extnValue in either form.
func parseNonce(ev []byte) (*Nonce, error) {
	s := cryptobyte.String(ev)
	var inner []byte
	if s.ReadASN1Bytes(&inner, cbasn1.OCTET_STRING) && s.Empty() && len(inner) > 0 {
		return &Nonce{Value: bytes.Clone(inner)}, nil
	}
	if len(ev) == 0 {
		return nil, fmt.Errorf("empty nonce extension: %w", ErrMalformed)
	}
	return &Nonce{Value: bytes.Clone(ev), Bare: true}, nil
}

// extension is one parsed Extension (RFC 5280 §4.1).
type extension struct {
	id       asn1.ObjectIdentifier
	critical bool
	value    []byte // extnValue contents, aliasing the input
}

// parseExtensions parses the contents of an EXPLICIT tag holding Extensions
// (SEQUENCE OF Extension). It rejects duplicates and critical extensions
// other than the nonce, the only one this package understands. where names
// the field in errors.
func parseExtensions(s cryptobyte.String, where string) ([]extension, error) {
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, fmt.Errorf("%s is not a SEQUENCE OF Extension: %w", where, ErrMalformed)
	}
	var exts []extension
	for !seq.Empty() {
		var e cryptobyte.String
		var x extension
		if !seq.ReadASN1(&e, cbasn1.SEQUENCE) || !e.ReadASN1ObjectIdentifier(&x.id) ||
			e.PeekASN1Tag(cbasn1.BOOLEAN) && !e.ReadASN1Boolean(&x.critical) ||
			!e.ReadASN1Bytes(&x.value, cbasn1.OCTET_STRING) || !e.Empty() {
			return nil, fmt.Errorf("%s: malformed Extension: %w", where, ErrMalformed)
		}
		for _, y := range exts {
			if y.id.Equal(x.id) {
				return nil, fmt.Errorf("%s: duplicate extension %s: %w", where, x.id, ErrMalformed)
			}
		}
		if x.critical && !x.id.Equal(oidNonce) {
			return nil, fmt.Errorf("%s: unsupported critical extension %s: %w", where, x.id, ErrMalformed)
		}
		exts = append(exts, x)
	}
	return exts, nil
}

// nonceFrom returns the nonce among exts, or nil.
func nonceFrom(exts []extension, where string) (*Nonce, error) {
	for _, x := range exts {
		if x.id.Equal(oidNonce) {
			n, err := parseNonce(x.value)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			return n, nil
		}
	}
	return nil, nil
}

// addNonceExtensions appends an EXPLICIT [tag] Extensions holding n.
func addNonceExtensions(b *cryptobyte.Builder, tag cbasn1.Tag, n *Nonce) {
	ev, err := n.extnValue()
	if err != nil {
		b.SetError(err)
		return
	}
	b.AddASN1(tag, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidNonce)
				b.AddASN1OctetString(ev)
			})
		})
	})
}
