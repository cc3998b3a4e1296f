package ocsp

import (
	"bytes"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxRequestSize is the largest DER OCSPRequest [ParseRequest] accepts, and
// the largest a GET path may decode to. A request for one certificate is
// about 80 bytes; 4 KiB leaves room for dozens of CertIDs or a signed
// request with a certificate.
const MaxRequestSize = 4 << 10

// Tags of the EXPLICIT fields [0], [1] and [2] (context-specific,
// constructed; RFC 6960 is an EXPLICIT TAGS module).
const (
	tag0 cbasn1.Tag = 0xa0
	tag1 cbasn1.Tag = 0xa1
	tag2 cbasn1.Tag = 0xa2
)

// Request is a parsed OCSPRequest (RFC 6960 §4.1.1).
type Request struct {
	// CertIDs are the certificates asked about, in request order; there is
	// at least one.
	CertIDs []CertID
	// Nonce is the nonce extension of the request, or nil.
	Nonce *Nonce
	// RequestorName is the DER of the requestorName GeneralName, or nil.
	// It is not interpreted.
	RequestorName []byte
	// Signed reports that the request carried an optionalSignature. Its
	// structure is checked, but the signature is NOT verified.
	Signed bool
}

// ParseRequest parses a DER OCSPRequest of at most [MaxRequestSize] bytes.
//
// It accepts version v1 only, CertIDs hashed with SHA-1, SHA-256 or SM3,
// and the nonce in either form (see [Nonce]). Other extensions are ignored
// when non-critical and rejected when critical. The requestorName is only
// checked to be one context-tagged element, the optionalSignature only for
// its structure. Errors wrap
// [ErrTooLarge] or [ErrMalformed]. The returned Request does not alias der.
func ParseRequest(der []byte) (*Request, error) {
	if len(der) > MaxRequestSize {
		return nil, fmt.Errorf("ocsp: request of %d bytes exceeds %d: %w", len(der), MaxRequestSize, ErrTooLarge)
	}
	r, err := parseRequest(cryptobyte.String(der))
	if err != nil {
		return nil, fmt.Errorf("ocsp: request: %w", err)
	}
	return r, nil
}

func parseRequest(input cryptobyte.String) (*Request, error) {
	var req, tbs cryptobyte.String
	if !input.ReadASN1(&req, cbasn1.SEQUENCE) || !input.Empty() {
		return nil, fmt.Errorf("not a single DER SEQUENCE: %w", ErrMalformed)
	}
	if !req.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, fmt.Errorf("tbsRequest is not a SEQUENCE: %w", ErrMalformed)
	}
	if err := readVersion(&tbs, "tbsRequest"); err != nil {
		return nil, err
	}
	r := &Request{}

	var rn cryptobyte.String
	var has bool
	if !tbs.ReadOptionalASN1(&rn, &has, tag1) {
		return nil, fmt.Errorf("malformed requestorName: %w", ErrMalformed)
	}
	if has {
		var gn cryptobyte.String
		var tag cbasn1.Tag
		if !rn.ReadAnyASN1Element(&gn, &tag) || !rn.Empty() || tag&0xc0 != 0x80 {
			return nil, fmt.Errorf("requestorName is not one GeneralName: %w", ErrMalformed)
		}
		r.RequestorName = bytes.Clone(gn)
	}

	var list cryptobyte.String
	if !tbs.ReadASN1(&list, cbasn1.SEQUENCE) {
		return nil, fmt.Errorf("requestList is not a SEQUENCE: %w", ErrMalformed)
	}
	for i := 0; !list.Empty(); i++ {
		var one cryptobyte.String
		if !list.ReadASN1(&one, cbasn1.SEQUENCE) {
			return nil, fmt.Errorf("request %d is not a SEQUENCE: %w", i, ErrMalformed)
		}
		id, err := parseCertID(&one)
		if err != nil {
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
		var ext cryptobyte.String
		if !one.ReadOptionalASN1(&ext, &has, tag0) || !one.Empty() {
			return nil, fmt.Errorf("request %d: malformed singleRequestExtensions or trailing data: %w", i, ErrMalformed)
		}
		if has {
			if _, err := parseExtensions(ext, fmt.Sprintf("request %d singleRequestExtensions", i)); err != nil {
				return nil, err
			}
		}
		r.CertIDs = append(r.CertIDs, id)
	}
	if len(r.CertIDs) == 0 {
		return nil, fmt.Errorf("empty requestList: %w", ErrMalformed)
	}

	var ext cryptobyte.String
	if !tbs.ReadOptionalASN1(&ext, &has, tag2) || !tbs.Empty() {
		return nil, fmt.Errorf("malformed requestExtensions or trailing data in tbsRequest: %w", ErrMalformed)
	}
	if has {
		exts, err := parseExtensions(ext, "requestExtensions")
		if err != nil {
			return nil, err
		}
		if r.Nonce, err = nonceFrom(exts, "requestExtensions"); err != nil {
			return nil, err
		}
	}

	var sig cryptobyte.String
	if !req.ReadOptionalASN1(&sig, &r.Signed, tag0) || !req.Empty() {
		return nil, fmt.Errorf("malformed optionalSignature or trailing data: %w", ErrMalformed)
	}
	if r.Signed {
		if err := checkRequestSignature(sig); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// readVersion reads an optional "[0] EXPLICIT Version DEFAULT v1" and
// accepts only v1 (0).
func readVersion(s *cryptobyte.String, where string) error {
	var v int64
	var ver cryptobyte.String
	var has bool
	if !s.ReadOptionalASN1(&ver, &has, tag0) {
		return fmt.Errorf("%s: malformed version: %w", where, ErrMalformed)
	}
	if has && (!ver.ReadASN1Integer(&v) || !ver.Empty() || v != 0) {
		return fmt.Errorf("%s: version is not v1: %w", where, ErrMalformed)
	}
	return nil
}

// checkRequestSignature checks the structure of a Signature: an
// AlgorithmIdentifier, a BIT STRING and optional [0] EXPLICIT SEQUENCE OF
// Certificate (each only checked to be a SEQUENCE).
func checkRequestSignature(s cryptobyte.String) error {
	var sig, alg, certs cryptobyte.String
	var bits cryptobyte.String
	var has bool
	if !s.ReadASN1(&sig, cbasn1.SEQUENCE) || !s.Empty() ||
		!sig.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(new(asn1.ObjectIdentifier)) ||
		!sig.ReadASN1(&bits, cbasn1.BIT_STRING) || len(bits) == 0 ||
		!sig.ReadOptionalASN1(&certs, &has, tag0) || !sig.Empty() {
		return fmt.Errorf("malformed optionalSignature: %w", ErrMalformed)
	}
	if has {
		var list cryptobyte.String
		if !certs.ReadASN1(&list, cbasn1.SEQUENCE) || !certs.Empty() {
			return fmt.Errorf("optionalSignature certs is not a SEQUENCE: %w", ErrMalformed)
		}
		for !list.Empty() {
			if !list.SkipASN1(cbasn1.SEQUENCE) {
				return fmt.Errorf("optionalSignature certificate is not a SEQUENCE: %w", ErrMalformed)
			}
		}
	}
	return nil
}

// CreateRequest returns the DER OCSPRequest (v1, unsigned, no requestorName)
// asking about ids, with a nonce extension when nonce is not nil.
func CreateRequest(ids []CertID, nonce *Nonce) ([]byte, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("ocsp: request needs at least one CertID: %w", ErrInvalidInput)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for i := range ids {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { ids[i].marshal(b) })
				}
			})
			if nonce != nil {
				addNonceExtensions(b, tag2, nonce)
			}
		})
	})
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ocsp: create request: %w", err)
	}
	return der, nil
}

// maxGETPath bounds the input of ParseGETPath before any work: the base64
// of MaxRequestSize bytes with every character percent-escaped, plus slack
// for leading slashes.
const maxGETPath = 3*4*((MaxRequestSize+2)/3) + 16

// ParseGETPath returns the DER OCSPRequest carried in the path of an RFC
// 6960 A.1 GET request: the URL-encoded standard base64 of the DER.
//
// path is the part after the responder's prefix, either still escaped
// (r.URL.EscapedPath) or already decoded (r.URL.Path); leading slashes are
// ignored. It is tolerant of what clients send: percent-escapes in any case
// (%2F, %2b, %3D, even escaped twice), unescaped '+' and '/', a '+' turned
// into a space, the URL-safe alphabet ('-', '_') and missing '=' padding.
// The result starts with a SEQUENCE tag and is at most [MaxRequestSize]
// bytes, but is NOT otherwise parsed; pass it to [ParseRequest]. Errors wrap [ErrTooLarge] or [ErrMalformed].
func ParseGETPath(path string) ([]byte, error) {
	if len(path) > maxGETPath {
		return nil, fmt.Errorf("ocsp: GET path of %d bytes is too long: %w", len(path), ErrTooLarge)
	}
	s := path
	for i := 0; i < 3 && strings.IndexByte(s, '%') >= 0; i++ {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, fmt.Errorf("ocsp: GET path: bad percent-escape: %w", ErrMalformed)
		}
		s = u
	}
	s = strings.TrimLeft(s, "/")
	s = strings.TrimRight(s, "=")
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-':
			return '+'
		case '_':
			return '/'
		}
		return r
	}, s)
	if s == "" {
		return nil, fmt.Errorf("ocsp: empty GET path: %w", ErrMalformed)
	}
	if base64.RawStdEncoding.DecodedLen(len(s)) > MaxRequestSize {
		return nil, fmt.Errorf("ocsp: GET path decodes to more than %d bytes: %w", MaxRequestSize, ErrTooLarge)
	}
	der, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("ocsp: GET path is not base64: %w", ErrMalformed)
	}
	// A DER OCSPRequest starts with a SEQUENCE tag, so its base64 starts
	// with 'M' and never with the '/' trimmed above.
	if len(der) == 0 || der[0] != 0x30 {
		return nil, fmt.Errorf("ocsp: GET path does not decode to a DER SEQUENCE: %w", ErrMalformed)
	}
	return der, nil
}
