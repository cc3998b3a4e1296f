package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// MetricsTokenFile holds the bearer token that may read /metrics without
// being an officer (for a Prometheus scrape job's credentials_file). The
// server creates it (0600) on first start.
func (c *Config) MetricsTokenFile() string { return filepath.Join(c.secretsDir(), "metrics-token") }

// metricsTokenPrefix marks metrics tokens.
const metricsTokenPrefix = "txm_"

// loadOrCreateMetricsToken returns the metrics token from path, creating
// it when missing. Replicas sharing the data directory share it.
func loadOrCreateMetricsToken(path string) (string, error) {
	if tok, err := readMetricsToken(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := metricsTokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	if err := writeSecret(path, []byte(tok+"\n"), 0); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readMetricsToken(path) // another replica made it first
		}
		return "", err
	}
	return tok, nil
}

func readMetricsToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("metrics token %s has mode %04o; it must not be accessible to group or others (chmod 600)", path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", fmt.Errorf("metrics token %s is too short", path)
	}
	return tok, nil
}

// metricsGuard serves next (the Prometheus handler) to a request bearing
// the metrics token, and otherwise only to an officer of any role (through
// the officers' guard, which records the access).
func (s *Server) metricsGuard(next http.Handler) http.Handler {
	officers := s.Tokens.RequireAny(next)
	want := []byte(s.metricsToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && strings.HasPrefix(tok, metricsTokenPrefix) {
			if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), want) == 1 {
				next.ServeHTTP(w, r)
				return
			}
		}
		officers.ServeHTTP(w, r)
	})
}

// hstsMaxAge is the Strict-Transport-Security max-age: two years, without
// includeSubDomains (other services may live below the server's name).
const hstsMaxAge = "max-age=63072000"

// hsts adds Strict-Transport-Security (RFC 6797) to every response sent
// over TLS.
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", hstsMaxAge)
		}
		next.ServeHTTP(w, r)
	})
}
