package timestamp

import (
	"crypto/rand"
	"encoding/asn1"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxRequestSize is the largest TimeStampReq accepted, in bytes. A request
// is about 100 bytes plus extensions.
const MaxRequestSize = 16 << 10

// MessageImprint is the hash of the time-stamped data.
type MessageImprint struct {
	HashAlgorithm asn1.ObjectIdentifier
	// NullParams records that the AlgorithmIdentifier has NULL parameters
	// (OpenSSL sends them) rather than none; it is echoed in the token.
	NullParams    bool
	HashedMessage []byte
}

// Extension is an X.509-style extension of a request or TSTInfo.
type Extension struct {
	ID       asn1.ObjectIdentifier
	Critical bool
	Value    []byte
}

// TimeStampReq is a time-stamp request (RFC 3161 §2.4.1).
type TimeStampReq struct {
	Version        int
	MessageImprint MessageImprint
	// ReqPolicy is the requested TSA policy; nil when absent.
	ReqPolicy asn1.ObjectIdentifier
	// Nonce is echoed in the token; nil when absent.
	Nonce *big.Int
	// CertReq asks for the TSA certificate in the token.
	CertReq    bool
	Extensions []Extension
}

// NewRequest returns a version-1 request for digest made with alg, with NULL
// hash parameters (as OpenSSL sends them), a random 64-bit nonce and certReq
// set. The digest length is checked.
func NewRequest(digest []byte, alg HashAlgorithm) (*TimeStampReq, error) {
	if !alg.Valid() {
		return nil, fmt.Errorf("timestamp: new request: %s: %w", alg, BadAlg)
	}
	if len(digest) != alg.Size() {
		return nil, fmt.Errorf("timestamp: new request: %s digest is %d bytes, want %d: %w", alg, len(digest), alg.Size(), BadDataFormat)
	}
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, fmt.Errorf("timestamp: new request nonce: %w", err)
	}
	return &TimeStampReq{
		Version:        1,
		MessageImprint: MessageImprint{HashAlgorithm: alg.OID(), NullParams: true, HashedMessage: digest},
		Nonce:          nonce,
		CertReq:        true,
	}, nil
}

func badFormat(what string) error {
	return fmt.Errorf("timestamp: malformed request: %s: %w", what, BadDataFormat)
}

// ParseRequest parses a DER TimeStampReq of at most MaxRequestSize bytes.
// It is strict: BER, trailing data, an explicit certReq FALSE or an empty
// extension list are refused, so an accepted request re-encodes (Marshal)
// to the same bytes. Errors wrap BadDataFormat, BadAlg (hash parameters
// other than NULL) or BadRequest (size). It does not check the version, the
// algorithm or the imprint length; the Authority does.
func ParseRequest(der []byte) (*TimeStampReq, error) {
	if len(der) > MaxRequestSize {
		return nil, fmt.Errorf("timestamp: request is %d bytes, limit %d: %w", len(der), MaxRequestSize, BadRequest)
	}
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, badFormat("not one DER SEQUENCE")
	}
	r := &TimeStampReq{}
	var version int64
	if !seq.ReadASN1Integer(&version) || version < 0 || version > 1<<16 {
		return nil, badFormat("version")
	}
	r.Version = int(version)
	var err error
	if r.MessageImprint, err = readImprint(&seq); err != nil {
		return nil, err
	}
	if seq.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER) {
		if !seq.ReadASN1ObjectIdentifier(&r.ReqPolicy) {
			return nil, badFormat("reqPolicy")
		}
	}
	if seq.PeekASN1Tag(cbasn1.INTEGER) {
		r.Nonce = new(big.Int)
		if !seq.ReadASN1Integer(r.Nonce) {
			return nil, badFormat("nonce")
		}
	}
	if seq.PeekASN1Tag(cbasn1.BOOLEAN) {
		if !seq.ReadASN1Boolean(&r.CertReq) {
			return nil, badFormat("certReq")
		}
		if !r.CertReq {
			return nil, badFormat("certReq FALSE is the DEFAULT and must be omitted in DER")
		}
	}
	if seq.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific().Constructed()) {
		if r.Extensions, err = readExtensions(&seq, cbasn1.Tag(0).ContextSpecific().Constructed()); err != nil {
			return nil, err
		}
	}
	if !seq.Empty() {
		return nil, badFormat("unexpected field after the known ones")
	}
	return r, nil
}

func readImprint(s *cryptobyte.String) (MessageImprint, error) {
	var m MessageImprint
	var seq, alg cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1(&alg, cbasn1.SEQUENCE) ||
		!alg.ReadASN1ObjectIdentifier(&m.HashAlgorithm) {
		return m, badFormat("messageImprint")
	}
	if !alg.Empty() {
		var null cryptobyte.String
		if !alg.ReadASN1(&null, cbasn1.NULL) || !null.Empty() || !alg.Empty() {
			return m, fmt.Errorf("timestamp: hash algorithm %s has parameters other than NULL: %w", m.HashAlgorithm, BadAlg)
		}
		m.NullParams = true
	}
	if !seq.ReadASN1Bytes(&m.HashedMessage, cbasn1.OCTET_STRING) || !seq.Empty() {
		return m, badFormat("hashedMessage")
	}
	return m, nil
}

func readExtensions(s *cryptobyte.String, tag cbasn1.Tag) ([]Extension, error) {
	var list cryptobyte.String
	if !s.ReadASN1(&list, tag) || list.Empty() {
		return nil, badFormat("extensions")
	}
	var exts []Extension
	for !list.Empty() {
		var e Extension
		var seq cryptobyte.String
		if !list.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&e.ID) {
			return nil, badFormat("extension")
		}
		if seq.PeekASN1Tag(cbasn1.BOOLEAN) {
			if !seq.ReadASN1Boolean(&e.Critical) || !e.Critical {
				return nil, badFormat("extension critical flag")
			}
		}
		if !seq.ReadASN1Bytes(&e.Value, cbasn1.OCTET_STRING) || !seq.Empty() {
			return nil, badFormat("extension value")
		}
		exts = append(exts, e)
	}
	return exts, nil
}

// Marshal returns the DER encoding of r.
func (r *TimeStampReq) Marshal() ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, 128))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(int64(r.Version))
		addImprint(b, r.MessageImprint)
		if r.ReqPolicy != nil {
			b.AddASN1ObjectIdentifier(r.ReqPolicy)
		}
		if r.Nonce != nil {
			b.AddASN1BigInt(r.Nonce)
		}
		if r.CertReq {
			b.AddASN1Boolean(true)
		}
		if len(r.Extensions) > 0 {
			addExtensions(b, cbasn1.Tag(0).ContextSpecific().Constructed(), r.Extensions)
		}
	})
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("timestamp: encode request: %w", err)
	}
	return der, nil
}

func addImprint(b *cryptobyte.Builder, m MessageImprint) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(m.HashAlgorithm)
			if m.NullParams {
				b.AddASN1NULL()
			}
		})
		b.AddASN1OctetString(m.HashedMessage)
	})
}

func addExtensions(b *cryptobyte.Builder, tag cbasn1.Tag, exts []Extension) {
	b.AddASN1(tag, func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(e.ID)
				if e.Critical {
					b.AddASN1Boolean(true)
				}
				b.AddASN1OctetString(e.Value)
			})
		}
	})
}
