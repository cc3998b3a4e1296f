package gateway

import (
	"context"

	"github.com/tongxing/tongxing/timestamp"
)

// AuthorityStamper is the Stamper of the in-process TSA: a GM/T 0033
// token (SM2, SM3 imprint) with the TSA certificate included.
type AuthorityStamper struct {
	TSA *timestamp.Authority
}

// Stamp implements Stamper.
func (s AuthorityStamper) Stamp(ctx context.Context, digest []byte) (*Stamp, error) {
	tok, err := s.TSA.Timestamp(ctx, digest, timestamp.SM3, timestamp.TokenOptions{CertReq: true})
	if err != nil {
		return nil, err
	}
	return &Stamp{Token: tok.Raw, Serial: tok.Info.SerialNumber.Text(16), Time: tok.Info.GenTime}, nil
}
