package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/kms"
)

// CACert is one certificate authority of a hierarchy: its certificate and,
// when loaded for signing, its key.
type CACert struct {
	Name   string    // identifier used in URLs and key names, e.g. "gm-issuing"
	Suite  kms.Suite //
	Root   bool      // self-signed root
	Parent string    // name of the issuer; empty for a root
	Cert   *smx509.Certificate
	Signer crypto.Signer
}

// Names of the CAs of a suite's hierarchy.
func rootName(s kms.Suite) string    { return string(s) + "-root" }
func issuingName(s kms.Suite) string { return string(s) + "-issuing" }

// PKIOptions says what hierarchies [InitPKI] creates.
type PKIOptions struct {
	Organization    string        // subject O of every CA; default "Tongxing"
	Suites          []kms.Suite   // default gm and intl
	RootValidity    time.Duration // default 20 years
	IssuingValidity time.Duration // default 10 years, capped by the root's
	// CommonNames overrides the CN of a CA, keyed by CA name (e.g. "gm-root").
	CommonNames map[string]string
}

func (o *PKIOptions) defaults() {
	if o.Organization == "" {
		o.Organization = "Tongxing"
	}
	if len(o.Suites) == 0 {
		o.Suites = []kms.Suite{kms.GM, kms.Intl}
	}
	if o.RootValidity == 0 {
		o.RootValidity = 20 * 365 * 24 * time.Hour
	}
	if o.IssuingValidity == 0 {
		o.IssuingValidity = 10 * 365 * 24 * time.Hour
	}
}

func (o *PKIOptions) commonName(name string, s kms.Suite, root bool) string {
	if cn := o.CommonNames[name]; cn != "" {
		return cn
	}
	label := map[kms.Suite]string{kms.GM: "SM2", kms.Intl: "ECDSA"}[s]
	if root {
		return fmt.Sprintf("%s %s Root CA", o.Organization, label)
	}
	return fmt.Sprintf("%s %s Issuing CA", o.Organization, label)
}

// ErrPKIExists is returned by [InitPKI] when the directory already holds CA
// certificates.
var ErrPKIExists = errors.New("ca: PKI already initialised")

// InitPKI creates, for each suite, a root CA and an issuing CA signed by it.
// Keys are created in km under the CA names; certificates are written as PEM
// to dir/NAME.crt. It refuses to overwrite an existing hierarchy.
func InitPKI(ctx context.Context, km kms.KeyManager, dir string, opts PKIOptions) ([]*CACert, error) {
	opts.defaults()
	if existing, _ := filepath.Glob(filepath.Join(dir, "*.crt")); len(existing) > 0 {
		return nil, fmt.Errorf("%w: %s holds %s", ErrPKIExists, dir, filepath.Base(existing[0]))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ca: create %s: %w", dir, err)
	}
	now := time.Now().Truncate(time.Second)
	var out []*CACert
	for _, s := range opts.Suites {
		if err := s.Valid(); err != nil {
			return nil, err
		}
		root, err := newCA(ctx, km, s, rootName(s), opts.commonName(rootName(s), s, true), opts.Organization, nil, now, now.Add(opts.RootValidity))
		if err != nil {
			return nil, err
		}
		notAfter := now.Add(opts.IssuingValidity)
		if notAfter.After(root.Cert.NotAfter) {
			notAfter = root.Cert.NotAfter
		}
		issuing, err := newCA(ctx, km, s, issuingName(s), opts.commonName(issuingName(s), s, false), opts.Organization, root, now, notAfter)
		if err != nil {
			return nil, err
		}
		out = append(out, root, issuing)
	}
	for _, c := range out {
		if err := writeFileAtomic(filepath.Join(dir, c.Name+".crt"), pemCert(c.Cert.Raw), 0o644); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func newCA(ctx context.Context, km kms.KeyManager, s kms.Suite, name, cn, org string, parent *CACert, notBefore, notAfter time.Time) (*CACert, error) {
	key, err := km.CreateKey(ctx, name, s)
	if err != nil {
		return nil, fmt.Errorf("ca: create key for %s: %w", name, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &smx509.Certificate{
		SerialNumber:          serial,
		Subject:               pkixName(cn, org),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign | smx509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski,
		SignatureAlgorithm:    s.SignatureAlgorithm(),
	}
	issuerCert, issuerKey := tmpl, key
	if parent != nil {
		tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
		issuerCert, issuerKey = parent.Cert, parent.Signer
	} else {
		tmpl.MaxPathLen = 1
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, issuerCert, key.Public(), issuerKey)
	if err != nil {
		return nil, fmt.Errorf("ca: sign %s certificate: %w", name, err)
	}
	cert, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parse new %s certificate: %w", name, err)
	}
	c := &CACert{Name: name, Suite: s, Root: parent == nil, Cert: cert, Signer: key}
	if parent != nil {
		c.Parent = parent.Name
	}
	return c, nil
}

// LoadPKI reads the CA certificates in dir and their keys from km, checking
// that each key matches its certificate and each issuing CA chains to its
// root.
func LoadPKI(ctx context.Context, km kms.KeyManager, dir string) ([]*CACert, error) {
	var out []*CACert
	roots := map[kms.Suite]*CACert{}
	for _, s := range []kms.Suite{kms.GM, kms.Intl} {
		for _, name := range []string{rootName(s), issuingName(s)} {
			path := filepath.Join(dir, name+".crt")
			b, err := os.ReadFile(path)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("ca: read %s: %w", path, err)
			}
			cert, err := parseCertPEM(b)
			if err != nil {
				return nil, fmt.Errorf("ca: %s: %w", path, err)
			}
			key, err := km.Signer(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("ca: key of %s: %w", name, err)
			}
			if !publicKeysEqual(key.Public(), cert.PublicKey) {
				return nil, fmt.Errorf("ca: key %s does not match certificate %s", name, path)
			}
			c := &CACert{Name: name, Suite: s, Cert: cert, Signer: key}
			if name == rootName(s) {
				c.Root = true
				roots[s] = c
			} else {
				root := roots[s]
				if root == nil {
					return nil, fmt.Errorf("ca: %s has no root certificate %s.crt in %s", name, rootName(s), dir)
				}
				if err := cert.CheckSignatureFrom(root.Cert); err != nil {
					return nil, fmt.Errorf("ca: %s is not signed by %s: %w", name, root.Name, err)
				}
				c.Parent = root.Name
			}
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ca: no CA certificates in %s (run tongxing init)", dir)
	}
	return out, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, err1 := smx509.MarshalPKIXPublicKey(a)
	eb, err2 := smx509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}

// randomSerial returns a positive serial of 159 random bits (RFC 5280 §4.1.2.2:
// at most 20 octets; CA/B Forum: at least 64 bits of entropy).
func randomSerial() (*big.Int, error) {
	var b [20]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("ca: serial: %w", err)
		}
		b[0] &= 0x7f
		if n := new(big.Int).SetBytes(b[:]); n.BitLen() > 128 {
			return n, nil
		}
	}
}

// subjectKeyID is RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey
// BIT STRING.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := smx509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("ca: marshal public key: %w", err)
	}
	var spki struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("ca: parse public key: %w", err)
	}
	h := sha1.Sum(spki.PublicKey.Bytes)
	return h[:], nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func parseCertPEM(b []byte) (*smx509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return smx509.ParseCertificate(block.Bytes)
}

// writeFileAtomic writes data to path via a synced temporary file and rename.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("ca: write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("ca: write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
