package main

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/server"
)

// newLogin is the card middleware for scripts and demos: certificate login
// (urn:tongxing:loa:4) with a citizen-card or e-cert key.
func newLogin(g *globals) *cobra.Command {
	var (
		certFile, chainFile, keyFile, passFile string
		issuer, cacert, jarFile, qrURL         string
	)
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in by certificate (loa:4) as card middleware does; saves the session cookie for curl",
		Example: `  tongxing login --cert zhangsan/cert.pem --key zhangsan/key.pem --cookie-jar session.txt
  curl -b session.txt --cacert tongxing-data/pki/intl-root.crt 'https://localhost:8443/oauth2/authorize?...'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config(cmd)
			if err != nil {
				return err
			}
			if issuer == "" {
				issuer = cfg.PublicURL
			}
			if cacert == "" {
				cacert = cfg.RootCertFile(kms.Intl)
			}
			chain, key, err := loadLoginCredentials(certFile, chainFile, keyFile, passFile)
			if err != nil {
				return err
			}
			lc := &client{base: issuer}
			var pool *x509.CertPool
			if b, err := os.ReadFile(cacert); err == nil {
				if pool, err = tlsRoots(cacert, b, cfg.RootCertFile(kms.Intl)); err != nil {
					return err
				}
				lc.caFile = cacert
			}
			jar, _ := cookiejar.New(nil)
			hc := &http.Client{Jar: jar, Timeout: 30 * time.Second,
				Transport: explainTransport{&http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, lc}}
			if qrURL != "" {
				return qrSign(cmd.Context(), hc, qrURL, chain, key, g.stdout)
			}
			if err := authn.CertLogin(cmd.Context(), hc, issuer, chain, key); err != nil {
				return err
			}
			u, err := url.Parse(issuer)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "signed in to %s by certificate (urn:tongxing:loa:4)\n", issuer)
			if jarFile != "" {
				if err := writeCookieJar(jarFile, u, jar.Cookies(u)); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "session cookie saved to %s (mode 0600; curl -b %s)\n", jarFile, jarFile)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&certFile, "cert", "", "certificate (PEM)")
	f.StringVar(&chainFile, "chain", "", "issuing CA chain (PEM; default chain.pem beside the certificate)")
	f.StringVar(&keyFile, "key", "", "encrypted private key (PEM) as tongxing ca request writes it")
	f.StringVar(&passFile, "passphrase-file", "", "key passphrase file (default $TONGXING_KEY_PASSPHRASE, else key.pass beside the key)")
	f.StringVar(&issuer, "issuer", "", "OIDC issuer URL (default: public_url)")
	f.StringVar(&cacert, "cacert", "", "PEM root to trust for the issuer (default DATA/pki/intl-root.crt)")
	f.StringVar(&jarFile, "cookie-jar", "", "write the session cookie to this file (Netscape format, for curl -b)")
	f.StringVar(&qrURL, "qr", "", "scan to sign in: sign the challenge of this QR code URL for the browser that shows it")
	_ = cmd.MarkFlagRequired("cert")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// loadLoginCredentials reads a login certificate with its chain (chainFile,
// else chain.pem beside the certificate when there is one) and decrypts its
// key with the passphrase of passFile, $TONGXING_KEY_PASSPHRASE, or key.pass
// beside the key.
func loadLoginCredentials(certFile, chainFile, keyFile, passFile string) ([]byte, crypto.Signer, error) {
	chain, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	if chainFile == "" {
		if p := filepath.Join(filepath.Dir(certFile), "chain.pem"); fileExists(p) {
			chainFile = p
		}
	}
	if chainFile != "" {
		more, err := os.ReadFile(chainFile)
		if err != nil {
			return nil, nil, err
		}
		chain = append(chain, more...)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	if passFile == "" && os.Getenv(server.EnvPassphrase) == "" {
		if p := filepath.Join(filepath.Dir(keyFile), "key.pass"); fileExists(p) {
			passFile = p
		}
	}
	pass, err := softkms.LoadPassphrase(os.Getenv(server.EnvPassphrase), passFile)
	if err != nil {
		return nil, nil, fmt.Errorf("key passphrase: %w", err)
	}
	key, err := kms.ParseEncryptedPEM(keyPEM, pass)
	if err != nil {
		return nil, nil, fmt.Errorf("--key %s: %w", keyFile, err)
	}
	return chain, key, nil
}

// writeCookieJar writes cookies of u's host to file in the Netscape format
// curl -b reads, mode 0600.
func writeCookieJar(file string, u *url.URL, cookies []*http.Cookie) error {
	var b strings.Builder
	b.WriteString("# Netscape HTTP Cookie File\n")
	for _, c := range cookies {
		fmt.Fprintf(&b, "#HttpOnly_%s\tFALSE\t/\tTRUE\t0\t%s\t%s\n", u.Hostname(), c.Name, c.Value)
	}
	return os.WriteFile(file, []byte(b.String()), 0o600)
}
