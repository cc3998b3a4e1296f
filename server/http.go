package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/forwarded"
	"github.com/tongxing/tongxing/problem"
)

// resolveHTTP checks http_listen and derives public_http_url from the
// public URL's host and the listener's port when it is not set.
func (c *Config) resolveHTTP(public *url.URL) error {
	if c.HTTPListen == "" {
		if c.PublicHTTPURL != "" {
			return fmt.Errorf("config: public_http_url is set but http_listen is empty")
		}
		return nil
	}
	_, port, err := net.SplitHostPort(c.HTTPListen)
	if err != nil {
		return fmt.Errorf("config: http_listen %q is not host:port: %w", c.HTTPListen, err)
	}
	if c.PublicHTTPURL == "" {
		host := public.Hostname()
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if port == "80" {
			c.PublicHTTPURL = "http://" + host
		} else {
			c.PublicHTTPURL = "http://" + host + ":" + port
		}
		return nil
	}
	u, err := url.Parse(c.PublicHTTPURL)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("config: public_http_url %q is not an http:// URL", c.PublicHTTPURL)
	}
	c.PublicHTTPURL = strings.TrimSuffix(c.PublicHTTPURL, "/")
	return nil
}

// repositoryHandler serves the plain-HTTP listener: CRLs, OCSP (GET and
// POST) and CA certificates, nothing else. They are signed objects, so
// they need no TLS, and relying parties fetching them over plain HTTP do
// not loop on checking the revocation of the HTTPS server's certificate.
func (s *Server) repositoryHandler() http.Handler {
	mux := http.NewServeMux()
	ca.NewAPI(s.CA, s.Tokens.Require, s.log).RepositoryRoutes(mux)
	s.ocsp.Routes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.New(http.StatusNotFound, "this plain-HTTP listener serves only CRLs (/ca/v1/crl/ISSUER.crl), OCSP (/ocsp) and CA certificates (/ca/v1/cas/NAME.crt); use "+s.cfg.PublicURL))
	})
	return s.ocsp.RawPaths(mux) // base64 in the path: no cleaning redirects
}

// servePlainHTTP serves the repository on ln; the returned function shuts
// it down.
func (s *Server) servePlainHTTP(ctx context.Context, ln net.Listener, trust *forwarded.Trust) (shutdown func(context.Context) error) {
	srv := &http.Server{
		Handler:           trust.Handler(s.repositoryHandler()),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving the plain-HTTP repository (CRLs, OCSP, CA certificates)", "addr", ln.Addr().String(), "public_http_url", s.cfg.PublicHTTPURL)
	return func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
			err = errors.Join(err, e)
		}
		return err
	}
}
