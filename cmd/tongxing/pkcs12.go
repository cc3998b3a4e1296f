package main

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"unicode/utf16"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/pkcs8"
)

// PKCS#12 (RFC 7292) as OpenSSL 3 writes it by default: the key in a
// pkcs8ShroudedKeyBag (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC), the
// certificates in plain certBags, and an HMAC-SHA256 MAC keyed by the
// PKCS#12 KDF.
var (
	oidData             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidShroudedKeyBag   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidX509Certificate  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	oidLocalKeyID       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 21}
	oidSHA256           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	pkcs12MACIterations = 10_000 // OpenSSL 3's -iter default for the MAC is 2048
)

type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT, made by explicit0
}

type p12Attribute struct {
	ID     asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

type p12SafeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue  // [0] EXPLICIT, made by explicit0
	Attributes []p12Attribute `asn1:"set,optional"`
}

type p12CertBag struct {
	ID   asn1.ObjectIdentifier
	Data []byte `asn1:"tag:0,explicit"`
}

type p12DigestInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Digest    []byte
}

type p12MacData struct {
	Mac        p12DigestInfo
	MacSalt    []byte
	Iterations int
}

type p12PFX struct {
	Version  int
	AuthSafe p12ContentInfo
	MacData  p12MacData
}

// encodePKCS12 returns a PFX holding key and certs (the first one is key's
// certificate), encrypted and authenticated under pass.
func encodePKCS12(key crypto.Signer, certs [][]byte, pass []byte) ([]byte, error) {
	keyID := sha256.Sum256(certs[0])
	localKeyID, err := asn1.Marshal(keyID[:8])
	if err != nil {
		return nil, err
	}
	idAttr := []p12Attribute{{ID: oidLocalKeyID, Values: asn1.RawValue{FullBytes: mustSet(localKeyID)}}}

	var certBags []p12SafeBag
	for i, c := range certs {
		cb, err := asn1.Marshal(p12CertBag{ID: oidX509Certificate, Data: c})
		if err != nil {
			return nil, err
		}
		bag := p12SafeBag{ID: oidCertBag, Value: explicit0(cb)}
		if i == 0 {
			bag.Attributes = idAttr
		}
		certBags = append(certBags, bag)
	}
	shrouded, err := pkcs8.MarshalPrivateKey(key, pass, pkcs.NewPBESEncrypter(pkcs.AES256CBC, pkcs.NewPBKDF2Opts(pkcs.SHA256, 16, opensslIterations)))
	if err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	keyBags := []p12SafeBag{{ID: oidShroudedKeyBag, Value: explicit0(shrouded), Attributes: idAttr}}

	var safes []p12ContentInfo
	for _, bags := range [][]p12SafeBag{certBags, keyBags} {
		ci, err := dataContentInfo(bags)
		if err != nil {
			return nil, err
		}
		safes = append(safes, ci)
	}
	authSafe, err := asn1.Marshal(safes)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	macKey := pkcs12KDF(bmpPassword(pass), salt, pkcs12MACIterations, 3, 32)
	mac := hmac.New(sha256.New, macKey)
	mac.Write(authSafe)
	outer, err := asn1.Marshal(authSafe)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(p12PFX{
		Version:  3,
		AuthSafe: p12ContentInfo{ContentType: oidData, Content: explicit0(outer)},
		MacData: p12MacData{
			Mac:        p12DigestInfo{Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}, Digest: mac.Sum(nil)},
			MacSalt:    salt,
			Iterations: pkcs12MACIterations,
		},
	})
}

// dataContentInfo wraps SafeContents in a ContentInfo of type data.
func dataContentInfo(bags []p12SafeBag) (p12ContentInfo, error) {
	sc, err := asn1.Marshal(bags)
	if err != nil {
		return p12ContentInfo{}, err
	}
	octets, err := asn1.Marshal(sc)
	if err != nil {
		return p12ContentInfo{}, err
	}
	return p12ContentInfo{ContentType: oidData, Content: explicit0(octets)}, nil
}

// explicit0 wraps DER in a [0] EXPLICIT tag (encoding/asn1 does not tag a
// RawValue that carries its own bytes).
func explicit0(der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
}

// mustSet wraps DER elements in a SET.
func mustSet(elems ...[]byte) []byte {
	var body []byte
	for _, e := range elems {
		body = append(body, e...)
	}
	b, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: body})
	return b
}

// bmpPassword is pass as a big-endian UTF-16 string with a terminating
// zero, as the PKCS#12 KDF takes it (RFC 7292, B.1).
func bmpPassword(pass []byte) []byte {
	u := utf16.Encode([]rune(string(pass)))
	b := make([]byte, 0, 2*len(u)+2)
	for _, r := range u {
		b = append(b, byte(r>>8), byte(r))
	}
	return append(b, 0, 0)
}

// pkcs12KDF is RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64): n
// bytes of purpose id (1 key, 2 IV, 3 MAC key).
func pkcs12KDF(pass, salt []byte, iterations int, id byte, n int) []byte {
	const u, v = 32, 64
	fill := func(s []byte) []byte {
		if len(s) == 0 {
			return nil
		}
		out := make([]byte, v*((len(s)+v-1)/v))
		for i := range out {
			out[i] = s[i%len(s)]
		}
		return out
	}
	d := make([]byte, v)
	for i := range d {
		d[i] = id
	}
	in := append(fill(salt), fill(pass)...)
	var out []byte
	for len(out) < n {
		h := sha256.New()
		h.Write(d)
		h.Write(in)
		a := h.Sum(nil)
		for range iterations - 1 {
			s := sha256.Sum256(a)
			a = s[:]
		}
		out = append(out, a...)
		b := make([]byte, v)
		for i := range b {
			b[i] = a[i%u]
		}
		for j := 0; j < len(in); j += v {
			carry := 1
			for k := v - 1; k >= 0; k-- {
				sum := int(in[j+k]) + int(b[k]) + carry
				in[j+k] = byte(sum)
				carry = sum >> 8
			}
		}
	}
	return out[:n]
}
