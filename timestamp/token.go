package timestamp

import (
	"errors"
	"fmt"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp/cms"
)

// MaxTokenSize is the largest time-stamp token ParseToken accepts, in bytes.
const MaxTokenSize = 64 << 10

// ErrMalformedToken is returned (wrapped) for input that is not a
// time-stamp token.
var ErrMalformedToken = errors.New("timestamp: malformed token")

// Token is a time-stamp token: a CMS SignedData over a TSTInfo.
type Token struct {
	// Raw is the DER ContentInfo.
	Raw []byte
	// Info is the signed TSTInfo.
	Info *TSTInfo
	// Suite is gm for GM/T 0010 SignedData, intl otherwise.
	Suite kms.Suite
	// SignedData is the parsed CMS structure; nil on tokens returned by
	// Authority.Timestamp.
	SignedData *cms.SignedData
}

// ParseToken parses a DER time-stamp token of at most MaxTokenSize bytes:
// SignedData (RFC 5652 or GM/T 0010) with exactly one SignerInfo and
// attached TSTInfo content of type id-ct-TSTInfo (GM/T 0010 data is also
// accepted in a gm token). It verifies nothing; see VerifyToken.
func ParseToken(der []byte) (*Token, error) {
	if len(der) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedToken, len(der), MaxTokenSize)
	}
	sd, err := cms.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedToken, err)
	}
	if len(sd.SignerInfos) != 1 {
		return nil, fmt.Errorf("%w: %d SignerInfos, want 1", ErrMalformedToken, len(sd.SignerInfos))
	}
	if !sd.ContentType.Equal(OIDTSTInfo) && !(sd.GM && sd.ContentType.Equal(cms.OIDGMData)) {
		return nil, fmt.Errorf("%w: eContentType %s is not id-ct-TSTInfo", ErrMalformedToken, sd.ContentType)
	}
	if sd.Detached {
		return nil, fmt.Errorf("%w: no TSTInfo content", ErrMalformedToken)
	}
	info, err := ParseTSTInfo(sd.Content)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedToken, err)
	}
	t := &Token{Raw: der, Info: info, Suite: kms.Intl, SignedData: sd}
	if sd.GM {
		t.Suite = kms.GM
	}
	return t, nil
}
