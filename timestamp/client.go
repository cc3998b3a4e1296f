package timestamp

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/problem"
)

// ErrReply is returned (wrapped) when a TSA answers with something that is
// not a matching time-stamp reply.
var ErrReply = errors.New("timestamp: unusable TSA reply")

// Client requests tokens from an RFC 3161 TSA over HTTP.
type Client struct {
	// URL is the TSA endpoint, e.g. https://tsa.example/tsa.
	URL string
	// HTTPClient defaults to http.DefaultClient.
	HTTPClient *http.Client
	// Policy is requested when not nil.
	Policy asn1.ObjectIdentifier
	// NoCertReq leaves certReq out, for a smaller token without the TSA
	// certificate (verifiers then need it from elsewhere).
	NoCertReq bool
	// Roots, when set, make Timestamp verify the token (VerifyToken);
	// otherwise only the imprint, nonce and policy are compared.
	Roots *smx509.CertPool
}

// Request time-stamps data at the TSA at url with the suite's hash (SM3 for
// gm, SHA-256 for intl), a random nonce and certReq. It checks that the
// token's imprint and nonce match but does NOT verify its signature or
// certificate; call Verify with trusted roots for that, or use a Client
// with Roots.
func Request(ctx context.Context, url string, data []byte, suite kms.Suite) (*Token, error) {
	c := &Client{URL: url}
	h := HashOf(suite)
	return c.Timestamp(ctx, h.Sum(data), h)
}

// Timestamp requests a token for digest, computed with alg.
func (c *Client) Timestamp(ctx context.Context, digest []byte, alg HashAlgorithm) (*Token, error) {
	req, err := NewRequest(digest, alg)
	if err != nil {
		return nil, err
	}
	req.ReqPolicy = c.Policy
	req.CertReq = !c.NoCertReq
	body, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("timestamp: request to %s: %w", c.URL, err)
	}
	hr.Header.Set("Content-Type", ContentTypeQuery)
	hr.Header.Set("Accept", ContentTypeReply)
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("timestamp: request to %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == problem.ContentType || (resp.StatusCode != http.StatusOK && mt != ContentTypeReply) {
		return nil, fmt.Errorf("%w from %s: %w", ErrReply, c.URL, problem.Read(resp))
	}
	if mt != ContentTypeReply {
		return nil, fmt.Errorf("%w from %s: Content-Type %q", ErrReply, c.URL, mt)
	}
	der, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("timestamp: read reply from %s: %w", c.URL, err)
	}
	tsr, err := ParseResponse(der)
	if err != nil {
		return nil, fmt.Errorf("%w from %s: %w", ErrReply, c.URL, err)
	}
	if err := tsr.Err(); err != nil {
		return nil, err
	}
	tok, err := ParseToken(tsr.Token)
	if err != nil {
		return nil, fmt.Errorf("%w from %s: %w", ErrReply, c.URL, err)
	}
	if err := checkAnswer(req, tok); err != nil {
		return nil, err
	}
	if c.Roots != nil {
		if _, err := VerifyToken(tok.Raw, VerifyOptions{Digest: digest, Roots: c.Roots, Nonce: req.Nonce, Policy: req.ReqPolicy}); err != nil {
			return nil, err
		}
	}
	return tok, nil
}

// checkAnswer compares a token with the request it answers (RFC 3161 §2.4.2).
func checkAnswer(req *TimeStampReq, tok *Token) error {
	if !equalImprint(req.MessageImprint, tok.Info.MessageImprint) {
		return fmt.Errorf("%w: %w", ErrReply, ErrImprintMismatch)
	}
	if (req.Nonce == nil) != (tok.Info.Nonce == nil) || (req.Nonce != nil && req.Nonce.Cmp(tok.Info.Nonce) != 0) {
		return fmt.Errorf("%w: %w", ErrReply, ErrNonceMismatch)
	}
	if req.ReqPolicy != nil && !req.ReqPolicy.Equal(tok.Info.Policy) {
		return fmt.Errorf("%w: %w", ErrReply, ErrPolicyMismatch)
	}
	if req.CertReq && len(tok.SignedData.Certificates) == 0 {
		return fmt.Errorf("%w: certificate requested but not included", ErrReply)
	}
	return nil
}
