package timestamp

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxResponseSize is the largest TimeStampResp the client and ParseResponse
// accept, in bytes.
const MaxResponseSize = 1 << 20

// TimeStampResp is a time-stamp response (RFC 3161 §2.4.2).
type TimeStampResp struct {
	Status       PKIStatus
	StatusString []string
	FailInfo     FailureInfo
	// Token is the DER time-stamp token (a ContentInfo), nil unless granted.
	Token []byte
}

// Err returns nil for a granted response and a *RejectionError otherwise.
func (r *TimeStampResp) Err() error {
	if r.Status == StatusGranted || r.Status == StatusGrantedWithMods {
		if r.Token == nil {
			return &RejectionError{Status: r.Status, Failure: r.FailInfo, Text: "granted without a token"}
		}
		return nil
	}
	return &RejectionError{Status: r.Status, Failure: r.FailInfo, Text: strings.Join(r.StatusString, "; ")}
}

// rejection returns the response for err.
func rejection(re *RejectionError) *TimeStampResp {
	r := &TimeStampResp{Status: re.Status, FailInfo: re.Failure}
	if re.Text != "" {
		r.StatusString = []string{re.Text}
	}
	return r
}

// Marshal returns the DER encoding of r.
func (r *TimeStampResp) Marshal() ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, 64+len(r.Token)))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(int64(r.Status))
			if len(r.StatusString) > 0 {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, s := range r.StatusString {
						b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
					}
				})
			}
			if r.FailInfo != 0 {
				addFailureInfo(b, r.FailInfo)
			}
		})
		if r.Token != nil {
			b.AddBytes(r.Token)
		}
	})
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("timestamp: encode response: %w", err)
	}
	return der, nil
}

// addFailureInfo writes a named BIT STRING in DER: bit 0 is the most
// significant bit of the first octet and trailing zero bits are dropped.
func addFailureInfo(b *cryptobyte.Builder, f FailureInfo) {
	hi := f.highestBit()
	n := hi/8 + 1
	buf := make([]byte, 1+n)
	buf[0] = byte(7 - hi%8)
	for i := 0; i <= hi; i++ {
		if f&(1<<i) != 0 {
			buf[1+i/8] |= 0x80 >> (i % 8)
		}
	}
	b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) { b.AddBytes(buf) })
}

// ParseResponse parses a DER TimeStampResp. It does not parse or verify
// the token; see ParseToken and VerifyToken.
func ParseResponse(der []byte) (*TimeStampResp, error) {
	if len(der) > MaxResponseSize {
		return nil, fmt.Errorf("timestamp: response is %d bytes, limit %d", len(der), MaxResponseSize)
	}
	in := cryptobyte.String(der)
	var seq, info cryptobyte.String
	r := &TimeStampResp{}
	var status int64
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&info, cbasn1.SEQUENCE) || !info.ReadASN1Integer(&status) || status < 0 || status > 5 {
		return nil, fmt.Errorf("timestamp: malformed response status")
	}
	r.Status = PKIStatus(status)
	if info.PeekASN1Tag(cbasn1.SEQUENCE) {
		var texts cryptobyte.String
		if !info.ReadASN1(&texts, cbasn1.SEQUENCE) {
			return nil, fmt.Errorf("timestamp: malformed response statusString")
		}
		for !texts.Empty() {
			var s []byte
			if !texts.ReadASN1Bytes(&s, cbasn1.UTF8String) {
				return nil, fmt.Errorf("timestamp: malformed response statusString")
			}
			r.StatusString = append(r.StatusString, string(s))
		}
	}
	if info.PeekASN1Tag(cbasn1.BIT_STRING) {
		var bs []byte
		var raw cryptobyte.String
		if !info.ReadASN1(&raw, cbasn1.BIT_STRING) || len(raw) == 0 || raw[0] > 7 || len(raw) > 5 {
			return nil, fmt.Errorf("timestamp: malformed response failInfo")
		}
		bs = raw[1:]
		for i := 0; i < len(bs)*8; i++ {
			if bs[i/8]&(0x80>>(i%8)) != 0 {
				r.FailInfo |= 1 << i
			}
		}
	}
	if !info.Empty() {
		return nil, fmt.Errorf("timestamp: malformed response status info")
	}
	if !seq.Empty() {
		var tok cryptobyte.String
		if !seq.ReadASN1Element(&tok, cbasn1.SEQUENCE) || !seq.Empty() {
			return nil, fmt.Errorf("timestamp: malformed response token")
		}
		r.Token = tok
	}
	return r, nil
}
