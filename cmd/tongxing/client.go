package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/problem"
)

// EnvToken is the environment variable holding an officer token for the
// client commands.
const EnvToken = "TONGXING_TOKEN"

// client talks to a Tongxing server's API over HTTPS, with an officer
// token when the command needs one. Errors from the server are the
// problem+json it answers ([problem.Details]), or describe the answer.
type client struct {
	base      string
	token     string
	tokenFile string // where token came from, if a file
	caFile    string // the root trusted for the server, if any
	http      *http.Client
}

// clientFlags say where the server is, which root to trust for it and
// which officer token to present.
type clientFlags struct {
	server, cacert, token string
}

// register adds --server, --cacert and --token to cmd.
func (f *clientFlags) register(cmd *cobra.Command) {
	f.registerTrust(cmd, true)
	cmd.Flags().StringVar(&f.token, "token", "", "officer token (default: $TONGXING_TOKEN, then DATA/secrets/ROLE-token for the role the command needs)")
}

// registerTrust adds --cacert and, withServer, --server to cmd: for
// commands that need no officer token.
func (f *clientFlags) registerTrust(cmd *cobra.Command, withServer bool) {
	if withServer {
		cmd.Flags().StringVar(&f.server, "server", "", "server base URL (default: public_url of the configuration)")
	}
	cmd.Flags().StringVar(&f.cacert, "cacert", "", "PEM root to trust for the server (default: DATA/pki/intl-root.crt)")
}

// client returns an API client for cmd. role is the officer role the
// command needs ("" for none): its token comes from --token, then
// $TONGXING_TOKEN, then DATA/secrets/ROLE-token.
func (g *globals) client(cmd *cobra.Command, f *clientFlags, role string) (*client, error) {
	cfg, err := g.config(cmd)
	if err != nil {
		return nil, err
	}
	c := &client{base: strings.TrimSuffix(cfg.PublicURL, "/")}
	if f.server != "" {
		c.base = strings.TrimSuffix(f.server, "/")
	}
	caFile := f.cacert
	if caFile == "" {
		caFile = cfg.RootCertFile(kms.Intl)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if pemBytes, err := os.ReadFile(caFile); err == nil {
		pool, err := tlsRoots(caFile, pemBytes, cfg.RootCertFile(kms.Intl))
		if err != nil {
			return nil, err
		}
		tlsCfg.RootCAs = pool
		c.caFile = caFile
	} else if f.cacert != "" {
		return nil, fmt.Errorf("--cacert: %w", err)
	}
	c.http = &http.Client{Timeout: 60 * time.Second, Transport: explainTransport{&http.Transport{TLSClientConfig: tlsCfg}, c}}
	if role != "" {
		c.token = f.token
		if c.token == "" {
			c.token = os.Getenv(EnvToken)
		}
		if c.token == "" {
			if b, err := os.ReadFile(cfg.OfficerTokenFile(role)); err == nil {
				c.token = strings.TrimSpace(string(b))
				c.tokenFile = cfg.OfficerTokenFile(role)
			}
		}
		if c.token == "" {
			hint := ""
			if !fileExists(cfg.Data) {
				hint = fmt.Sprintf(" (there is no data directory %s here: run the command where `tongxing serve` keeps it, or pass --data DIR)", cfg.Data)
			}
			return nil, fmt.Errorf("no %s officer token: pass --token, set %s, or keep it in %s%s", role, EnvToken, cfg.OfficerTokenFile(role), hint)
		}
	}
	return c, nil
}

// do sends body (nil: none) as JSON to path and decodes a successful
// answer into out.
func (c *client) do(cmd *cobra.Command, method, path string, body, out any) error {
	var rd io.Reader
	contentType := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd, contentType = bytes.NewReader(b), "application/json"
	}
	return c.send(cmd, method, path, contentType, rd, out)
}

// send sends body of contentType (nil: none) to path and decodes a
// successful JSON answer (at most 64 MiB) into out.
func (c *client) send(cmd *cobra.Command, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(cmd.Context(), method, c.base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.failed(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return problem.Read(resp)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out)
}

// stream GETs path and returns the body of a successful response.
func (c *client) stream(cmd *cobra.Command, path string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(cmd.Context(), "GET", c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.failed(err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, problem.Read(resp)
	}
	return resp.Body, nil
}

// nonEmpty returns the query parameters whose values are set.
func nonEmpty(params map[string]string) url.Values {
	q := url.Values{}
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}
