// Package der appends DER (ITU-T X.690) tag-length-value encodings without
// intermediate builders, for the hot path of token issuance. It encodes
// only what callers pass it; callers are responsible for DER ordering of
// SET OF elements.
package der

import (
	"encoding/asn1"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
)

// Tags used by the callers.
const (
	TagInteger     = 0x02
	TagBitString   = 0x03
	TagOctetString = 0x04
	TagNull        = 0x05
	TagOID         = 0x06
	TagUTF8String  = 0x0c
	TagSequence    = 0x30
	TagSet         = 0x31
	TagUTCTime     = 0x17
	TagGeneralized = 0x18
)

// ContextConstructed returns the tag byte of [n] constructed (n < 31).
func ContextConstructed(n int) byte { return 0xa0 | byte(n) }

// ContextPrimitive returns the tag byte of [n] primitive (n < 31).
func ContextPrimitive(n int) byte { return 0x80 | byte(n) }

// lenSize returns the size of the DER length octets for n.
func lenSize(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n < 0x100:
		return 2
	case n < 0x10000:
		return 3
	case n < 0x1000000:
		return 4
	}
	return 5
}

func appendLen(dst []byte, n int) []byte {
	switch s := lenSize(n); s {
	case 1:
		return append(dst, byte(n))
	default:
		dst = append(dst, 0x80|byte(s-1))
		for i := s - 2; i >= 0; i-- {
			dst = append(dst, byte(n>>(8*i)))
		}
		return dst
	}
}

// Size returns the encoded size of a TLV whose content is n bytes.
func Size(n int) int { return 1 + lenSize(n) + n }

// AppendTLV appends tag, the length of the concatenated parts and the parts.
func AppendTLV(dst []byte, tag byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	dst = append(dst, tag)
	dst = appendLen(dst, n)
	for _, p := range parts {
		dst = append(dst, p...)
	}
	return dst
}

// TLV returns tag, length and the concatenated parts in a new slice.
func TLV(tag byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return AppendTLV(make([]byte, 0, Size(n)), tag, parts...)
}

// AppendHeader appends the tag and the length octets of a TLV whose
// content, n bytes, the caller appends next.
func AppendHeader(dst []byte, tag byte, n int) []byte {
	return appendLen(append(dst, tag), n)
}

// HeaderSize is the size of the tag and length octets of a TLV whose
// content is n bytes.
func HeaderSize(n int) int { return 1 + lenSize(n) }

// OID returns the DER OBJECT IDENTIFIER. It panics on an invalid OID
// (fewer than two arcs, first arc above 2, negative arcs), which only a
// programming error produces.
func OID(oid asn1.ObjectIdentifier) []byte {
	if len(oid) < 2 || oid[0] > 2 || oid[0] < 2 && oid[1] >= 40 {
		panic("der: invalid OID " + oid.String())
	}
	body := appendBase128(nil, oid[0]*40+oid[1])
	for _, a := range oid[2:] {
		body = appendBase128(body, a)
	}
	return TLV(TagOID, body)
}

func appendBase128(dst []byte, v int) []byte {
	if v < 0 {
		panic("der: negative OID arc")
	}
	n := 1
	for t := v >> 7; t > 0; t >>= 7 {
		n++
	}
	for i := n - 1; i >= 0; i-- {
		b := byte(v>>(7*i)) & 0x7f
		if i > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
	}
	return dst
}

// Int returns the DER INTEGER v.
func Int(v int64) []byte {
	b := cryptobyte.NewBuilder(make([]byte, 0, 10))
	b.AddASN1Int64(v)
	return b.BytesOrPanic()
}

// BigInt returns the DER INTEGER n (negative values in two's complement).
func BigInt(n *big.Int) []byte {
	b := cryptobyte.NewBuilder(make([]byte, 0, 4+len(n.Bytes())))
	b.AddASN1BigInt(n)
	return b.BytesOrPanic()
}
