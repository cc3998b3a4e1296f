package auditlog

import (
	"github.com/emmansun/gmsm/sm3"
	"github.com/transparency-dev/merkle"
)

// HashSize is the size of an SM3 digest and of every tree hash.
const HashSize = sm3.Size

// Hasher is the RFC 6962 (section 2.1) Merkle tree hasher with SM3 in place
// of SHA-256:
//
//	EmptyRoot()         = SM3("")
//	HashLeaf(d)         = SM3(0x00 || d)
//	HashChildren(l, r)  = SM3(0x01 || l || r)
//
// The zero value is ready to use and safe for concurrent use.
type Hasher struct{}

var _ merkle.LogHasher = Hasher{}

// EmptyRoot returns SM3 of the empty string, the root of an empty tree.
func (Hasher) EmptyRoot() []byte {
	h := sm3.Sum(nil)
	return h[:]
}

// HashLeaf returns SM3(0x00 || leaf).
func (Hasher) HashLeaf(leaf []byte) []byte {
	h := sm3.New()
	h.Write([]byte{0x00})
	h.Write(leaf)
	return h.Sum(make([]byte, 0, HashSize))
}

// HashChildren returns SM3(0x01 || l || r).
func (Hasher) HashChildren(l, r []byte) []byte {
	if len(l) != HashSize || len(r) != HashSize {
		h := sm3.New()
		h.Write([]byte{0x01})
		h.Write(l)
		h.Write(r)
		return h.Sum(make([]byte, 0, HashSize))
	}
	var buf [1 + 2*HashSize]byte
	buf[0] = 0x01
	copy(buf[1:], l)
	copy(buf[1+HashSize:], r)
	h := sm3.Sum(buf[:])
	return h[:]
}

// Size returns the digest size, 32.
func (Hasher) Size() int { return HashSize }
