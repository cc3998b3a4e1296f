package acmeca

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/smallstep/certificates/acme"
)

// DialFunc connects to a network address, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

const (
	// challengeTimeout bounds one challenge validation request.
	challengeTimeout = 30 * time.Second
	// maxChallengeBody is the most of an http-01 response that is read; a key
	// authorization is about 90 bytes.
	maxChallengeBody = 8 << 10
	// maxRedirects is the most redirects an http-01 validation follows.
	maxRedirects = 10
)

// challengeClient is the acme.Client that validates challenges: it connects
// through dial, never through a proxy, and reads at most maxChallengeBody
// bytes of an http-01 response.
type challengeClient struct {
	dial     DialFunc
	http     *http.Client
	resolver *net.Resolver
}

var _ acme.Client = (*challengeClient)(nil)

func newChallengeClient(dial DialFunc) *challengeClient {
	if dial == nil {
		d := &net.Dialer{Timeout: challengeTimeout}
		dial = d.DialContext
	}
	return &challengeClient{
		dial: dial,
		http: &http.Client{
			Timeout: challengeTimeout,
			Transport: &http.Transport{
				DialContext: dial,
				// RFC 8555 §8.3: a redirect to https is followed without
				// checking the certificate; the key authorization in the body
				// is what is checked.
				TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
				DisableKeepAlives:   true,
				TLSHandshakeTimeout: challengeTimeout,
			},
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= maxRedirects {
					return fmt.Errorf("stopped after %d redirects", maxRedirects)
				}
				if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
					return fmt.Errorf("redirect to %s URL", req.URL.Scheme)
				}
				return nil
			},
		},
		resolver: net.DefaultResolver,
	}
}

// Get fetches an http-01 challenge URL.
func (c *challengeClient) Get(url string) (*http.Response, error) {
	resp, err := c.http.Get(url) //nolint:noctx // the interface has no context; the client has a timeout
	if err != nil {
		return nil, err
	}
	resp.Body = limitedBody{Reader: io.LimitReader(resp.Body, maxChallengeBody), Closer: resp.Body}
	return resp, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// LookupTxt resolves the TXT records of a dns-01 challenge.
func (c *challengeClient) LookupTxt(name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), challengeTimeout)
	defer cancel()
	return c.resolver.LookupTXT(ctx, name)
}

// TLSDial connects for a tls-alpn-01 challenge and completes the handshake.
func (c *challengeClient) TLSDial(network, addr string, config *tls.Config) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), challengeTimeout)
	defer cancel()
	raw, err := c.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		raw.Close()
		return nil, err
	}
	cfg := config.Clone()
	if cfg == nil {
		return nil, errors.Join(errors.New("acmeca: TLS dial without a TLS configuration"), raw.Close())
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}
