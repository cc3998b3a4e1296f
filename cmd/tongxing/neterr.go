package main

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// tlsRoots returns the certificates of the PEM file name as roots for
// HTTPS. An SM2 certificate (the gm root) is refused with the reason: Go's
// TLS, like browsers', has no SM2 cipher suites, so such a root can never
// authenticate the server; intlRoot is the file to use instead.
func tlsRoots(name string, pemBytes []byte, intlRoot string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	found, sm2Found := 0, 0
	for rest := pemBytes; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := smx509.ParseCertificate(b.Bytes); err == nil {
			if isSM2Key(c) {
				sm2Found++
				continue
			}
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			pool.AddCert(c)
			found++
		}
	}
	switch {
	case found > 0:
		return pool, nil
	case sm2Found > 0:
		return nil, fmt.Errorf("%s holds an SM2 certificate: SM2 roots cannot secure HTTPS (TLS here has no SM2 cipher suites); trust the intl (ECDSA) root instead: --cacert %s", name, intlRoot)
	default:
		return nil, fmt.Errorf("%s holds no PEM certificate (want the server's intl root, e.g. --cacert %s)", name, intlRoot)
	}
}

// isSM2Key reports whether c's public key is on the SM2 curve.
func isSM2Key(c *smx509.Certificate) bool {
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	return ok && pub.Curve == sm2.P256() || c.SignatureAlgorithm == smx509.SM2WithSM3
}

// explain turns a failure to talk to the server into a message that names
// the cause and the next step; the original error stays wrapped.
func (c *client) explain(err error) error {
	if err == nil {
		return nil
	}
	var done *explained
	if errors.As(err, &done) {
		return err
	}
	var (
		unknown   x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		dnsErr    *net.DNSError
		opErr     *net.OpError
		recordErr = strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
	)
	trust := "DATA/pki/intl-root.crt of the server's data directory"
	if c.caFile != "" {
		trust = c.caFile + " is trusted now"
	}
	switch {
	case errors.As(err, &unknown) || strings.Contains(err.Error(), "certificate signed by unknown authority"):
		return explainf(err, "the TLS certificate of %s is not signed by a root trusted here (%s): pass --cacert DATA/pki/intl-root.crt, the intl root of that server's data directory (%w)", c.base, trust, err)
	case errors.As(err, &hostErr):
		return explainf(err, "the TLS certificate of %s is not for that host name: use --server with a name in the certificate (tls.hosts), e.g. https://localhost:PORT (%w)", c.base, err)
	case errors.As(err, &invalid):
		return explainf(err, "the TLS certificate of %s is not valid (%w)", c.base, err)
	case recordErr:
		return explainf(err, "%s answers plain HTTP: --server must be the https:// URL of the API listener (listen), not the repository (http_listen) (%w)", c.base, err)
	case errors.As(err, &dnsErr):
		return explainf(err, "cannot resolve the host of %s: is --server (or public_url in DATA/config.yaml) right? (%w)", c.base, err)
	case errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &opErr) && opErr.Op == "dial":
		return explainf(err, "the Tongxing server is not reachable at %s: is `tongxing serve` running, and is --server (or public_url in DATA/config.yaml, or --data) right? (%w)", c.base, err)
	}
	return err
}

// notSent reports whether err means the request never reached the server
// (no connection, or TLS refused): repeating it cannot lose an answer.
func notSent(err error) bool {
	var (
		opErr   *net.OpError
		unknown x509.UnknownAuthorityError
		hostErr x509.HostnameError
		dnsErr  *net.DNSError
	)
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &opErr) && opErr.Op == "dial" ||
		errors.As(err, &unknown) || errors.As(err, &hostErr) || errors.As(err, &dnsErr) ||
		strings.Contains(err.Error(), "certificate signed by unknown authority")
}

// failed is explain for the client's own requests: an explained error
// without the "METHOD URL:" prefix of net/http (the message names the URL).
func (c *client) failed(err error) error {
	err = c.explain(err)
	var ex *explained
	if errors.As(err, &ex) {
		return ex
	}
	return err
}

// explained is an error whose message already names its cause and the
// next step; explain leaves it alone.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// explainf formats an explained error wrapping err (format ends in %w).
func explainf(err error, format string, args ...any) error {
	return &explained{msg: fmt.Errorf(format, args...).Error(), err: err}
}

// explainTransport explains the errors of the requests that commands send
// through a client's http.Client directly (filings, the KMC exchange).
type explainTransport struct {
	base http.RoundTripper
	c    *client
}

// RoundTrip sends req with the base transport.
func (t explainTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, t.c.explain(err)
	}
	return resp, nil
}
