package timestamp

import (
	"encoding/asn1"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tongxing/tongxing/timestamp/internal/der"
)

// TSTInfo is the signed content of a time-stamp token (RFC 3161 §2.4.2).
type TSTInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint MessageImprint
	SerialNumber   *big.Int
	// GenTime is in UTC, with the precision the token carries.
	GenTime time.Time
	// Accuracy is zero when the token carries none.
	Accuracy time.Duration
	Ordering bool
	// Nonce is nil when absent.
	Nonce *big.Int
	// TSAName is the DER GeneralName of the tsa field, nil when absent.
	TSAName    []byte
	Extensions []Extension
}

// Marshal returns the DER encoding of t.
func (t *TSTInfo) Marshal() ([]byte, error) {
	if t.SerialNumber == nil || len(t.Policy) < 2 || len(t.MessageImprint.HashAlgorithm) < 2 {
		return nil, fmt.Errorf("timestamp: encode TSTInfo: serial, policy and imprint algorithm are required")
	}
	parts := make([][]byte, 0, 10)
	parts = append(parts,
		der.Int(int64(t.Version)),
		der.OID(t.Policy),
		encodeImprint(t.MessageImprint),
		der.BigInt(t.SerialNumber),
		der.TLV(der.TagGeneralized, []byte(formatGeneralizedTime(t.GenTime))),
	)
	if t.Accuracy > 0 {
		parts = append(parts, encodeAccuracy(t.Accuracy))
	}
	if t.Ordering {
		parts = append(parts, []byte{0x01, 0x01, 0xff})
	}
	if t.Nonce != nil {
		parts = append(parts, der.BigInt(t.Nonce))
	}
	if t.TSAName != nil {
		parts = append(parts, der.TLV(der.ContextConstructed(0), t.TSAName))
	}
	if len(t.Extensions) > 0 {
		b := cryptobyte.NewBuilder(nil)
		addExtensions(b, cbasn1.Tag(1).ContextSpecific().Constructed(), t.Extensions)
		ext, err := b.Bytes()
		if err != nil {
			return nil, fmt.Errorf("timestamp: encode TSTInfo extensions: %w", err)
		}
		parts = append(parts, ext)
	}
	return der.TLV(der.TagSequence, parts...), nil
}

func encodeImprint(m MessageImprint) []byte {
	alg := [][]byte{der.OID(m.HashAlgorithm)}
	if m.NullParams {
		alg = append(alg, []byte{der.TagNull, 0})
	}
	return der.TLV(der.TagSequence, der.TLV(der.TagSequence, alg...), der.TLV(der.TagOctetString, m.HashedMessage))
}

// encodeAccuracy writes Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL,
// millis [0] INTEGER (1..999) OPTIONAL, micros [1] INTEGER (1..999) OPTIONAL },
// leaving zero parts out. Precision below a microsecond is rounded up.
func encodeAccuracy(d time.Duration) []byte {
	us := (d + time.Microsecond - 1) / time.Microsecond
	sec, ms, micro := int64(us/1e6), int64(us/1e3%1e3), int64(us%1e3)
	var parts [][]byte
	if sec > 0 {
		parts = append(parts, der.Int(sec))
	}
	if ms > 0 {
		v := der.Int(ms)
		v[0] = der.ContextPrimitive(0)
		parts = append(parts, v)
	}
	if micro > 0 {
		v := der.Int(micro)
		v[0] = der.ContextPrimitive(1)
		parts = append(parts, v)
	}
	return der.TLV(der.TagSequence, parts...)
}

// formatGeneralizedTime formats t in UTC as DER GeneralizedTime: seconds,
// then a fraction without trailing zeros, then "Z".
func formatGeneralizedTime(t time.Time) string {
	t = t.UTC()
	s := t.Format("20060102150405")
	if ns := t.Nanosecond(); ns != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%09d", ns), "0")
	}
	return s + "Z"
}

// parseGeneralizedTime accepts exactly what formatGeneralizedTime writes.
func parseGeneralizedTime(s string) (time.Time, error) {
	if len(s) < 15 || s[len(s)-1] != 'Z' {
		return time.Time{}, fmt.Errorf("genTime %q is not UTC GeneralizedTime", s)
	}
	t, err := time.Parse("20060102150405", s[:14])
	if err != nil {
		return time.Time{}, fmt.Errorf("genTime %q: %w", s, err)
	}
	frac := s[14 : len(s)-1]
	if frac == "" {
		return t, nil
	}
	if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' || frac[len(frac)-1] == '0' {
		return time.Time{}, fmt.Errorf("genTime %q has a non-DER fraction", s)
	}
	for _, c := range frac[1:] {
		if c < '0' || c > '9' {
			return time.Time{}, fmt.Errorf("genTime %q has a non-digit fraction", s)
		}
	}
	ns, _ := strconv.Atoi((frac[1:] + "000000000")[:9])
	return t.Add(time.Duration(ns)), nil
}

// ParseTSTInfo parses a DER TSTInfo strictly (fields in order, DER values).
func ParseTSTInfo(der []byte) (*TSTInfo, error) {
	bad := func(what string) error { return fmt.Errorf("timestamp: malformed TSTInfo: %s", what) }
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, bad("not one DER SEQUENCE")
	}
	t := &TSTInfo{SerialNumber: new(big.Int)}
	var version int64
	if !seq.ReadASN1Integer(&version) || version != 1 {
		return nil, bad("version is not 1")
	}
	t.Version = 1
	if !seq.ReadASN1ObjectIdentifier(&t.Policy) {
		return nil, bad("policy")
	}
	var err error
	if t.MessageImprint, err = readImprint(&seq); err != nil {
		return nil, bad("messageImprint")
	}
	if !seq.ReadASN1Integer(t.SerialNumber) || t.SerialNumber.Sign() < 0 {
		return nil, bad("serialNumber")
	}
	var gt []byte
	if !seq.ReadASN1Bytes(&gt, cbasn1.GeneralizedTime) {
		return nil, bad("genTime")
	}
	if t.GenTime, err = parseGeneralizedTime(string(gt)); err != nil {
		return nil, bad(err.Error())
	}
	if seq.PeekASN1Tag(cbasn1.SEQUENCE) {
		if t.Accuracy, err = readAccuracy(&seq); err != nil {
			return nil, bad(err.Error())
		}
	}
	if seq.PeekASN1Tag(cbasn1.BOOLEAN) {
		if !seq.ReadASN1Boolean(&t.Ordering) || !t.Ordering {
			return nil, bad("ordering FALSE must be omitted")
		}
	}
	if seq.PeekASN1Tag(cbasn1.INTEGER) {
		t.Nonce = new(big.Int)
		if !seq.ReadASN1Integer(t.Nonce) {
			return nil, bad("nonce")
		}
	}
	if seq.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific().Constructed()) {
		var name, inner cryptobyte.String
		var tag cbasn1.Tag
		if !seq.ReadASN1(&name, cbasn1.Tag(0).ContextSpecific().Constructed()) ||
			!name.ReadAnyASN1Element(&inner, &tag) || !name.Empty() {
			return nil, bad("tsa")
		}
		t.TSAName = inner
	}
	if seq.PeekASN1Tag(cbasn1.Tag(1).ContextSpecific().Constructed()) {
		if t.Extensions, err = readExtensions(&seq, cbasn1.Tag(1).ContextSpecific().Constructed()); err != nil {
			return nil, bad("extensions")
		}
	}
	if !seq.Empty() {
		return nil, bad("trailing fields")
	}
	return t, nil
}

func readAccuracy(s *cryptobyte.String) (time.Duration, error) {
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return 0, fmt.Errorf("accuracy")
	}
	var sec, ms, us int64
	if seq.PeekASN1Tag(cbasn1.INTEGER) && (!seq.ReadASN1Integer(&sec) || sec < 0 || sec > 1<<31) {
		return 0, fmt.Errorf("accuracy seconds")
	}
	if seq.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()) && (!seq.ReadASN1Int64WithTag(&ms, cbasn1.Tag(0).ContextSpecific()) || ms < 1 || ms > 999) {
		return 0, fmt.Errorf("accuracy millis")
	}
	if seq.PeekASN1Tag(cbasn1.Tag(1).ContextSpecific()) && (!seq.ReadASN1Int64WithTag(&us, cbasn1.Tag(1).ContextSpecific()) || us < 1 || us > 999) {
		return 0, fmt.Errorf("accuracy micros")
	}
	if !seq.Empty() {
		return 0, fmt.Errorf("accuracy trailing data")
	}
	return time.Duration(sec)*time.Second + time.Duration(ms)*time.Millisecond + time.Duration(us)*time.Microsecond, nil
}
