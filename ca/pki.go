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
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/kms"
)

// Issuer is one certificate authority of a hierarchy, a root or an issuing
// CA: its certificate and, when loaded for signing, its key.
type Issuer struct {
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
	// Policies are the certificatePolicies of the CA certificates. Default
	// anyPolicy ([OIDAnyPolicy]), which admits every leaf policy; a
	// deployment that lists its own must list every policy its profiles use.
	Policies []asn1.ObjectIdentifier
	// NameConstraints, keyed by suite, puts critical name constraints on
	// that suite's issuing CA (RFC 5280 §4.2.1.10). Default none.
	NameConstraints map[kms.Suite]*NameConstraints
}

// NameConstraints are the permitted subtrees of an issuing CA: relying
// parties refuse any certificate below it that names something else. A
// name type left empty is constrained to nothing usable (the reserved
// domain "invalid", the unspecified IP addresses, URIs of host "invalid"),
// so that leaving a list empty never lifts the constraint.
type NameConstraints struct {
	DNSDomains []string     // each admits itself and every name below it
	IPRanges   []*net.IPNet // CIDR ranges
	URIDomains []string     // hosts of URI names (the SPIFFE trust domain)
}

// permits reports whether the constraints admit the names, and the first
// name they refuse.
func (nc *NameConstraints) permits(dns []string, ips []net.IP, uris []*url.URL) (string, bool) {
	for _, d := range dns {
		base := strings.TrimPrefix(d, "*.")
		if !slices.ContainsFunc(nc.DNSDomains, func(c string) bool { return base == c || strings.HasSuffix(base, "."+c) }) {
			return d, false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(nc.IPRanges, func(n *net.IPNet) bool { return n.Contains(ip) }) {
			return ip.String(), false
		}
	}
	for _, u := range uris {
		if !slices.ContainsFunc(nc.URIDomains, func(c string) bool { return u.Hostname() == c || strings.HasSuffix(u.Hostname(), "."+c) }) {
			return u.String(), false
		}
	}
	return "", true
}

// constraintsOf returns the name constraints of an issuing CA certificate,
// or nil if it has none.
func constraintsOf(c *smx509.Certificate) *NameConstraints {
	if len(c.PermittedDNSDomains) == 0 && len(c.PermittedIPRanges) == 0 && len(c.PermittedURIDomains) == 0 {
		return nil
	}
	return &NameConstraints{DNSDomains: c.PermittedDNSDomains, IPRanges: c.PermittedIPRanges, URIDomains: c.PermittedURIDomains}
}

// apply writes nc into a CA certificate template, critical.
func (nc *NameConstraints) apply(t *smx509.Certificate) {
	t.PermittedDNSDomainsCritical = true
	t.PermittedDNSDomains = slices.Clone(nc.DNSDomains)
	if len(t.PermittedDNSDomains) == 0 {
		t.PermittedDNSDomains = []string{"invalid"}
	}
	t.PermittedIPRanges = slices.Clone(nc.IPRanges)
	if len(t.PermittedIPRanges) == 0 {
		t.PermittedIPRanges = []*net.IPNet{{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(32, 32)}, {IP: net.IPv6unspecified, Mask: net.CIDRMask(128, 128)}}
	}
	t.PermittedURIDomains = slices.Clone(nc.URIDomains)
	if len(t.PermittedURIDomains) == 0 {
		t.PermittedURIDomains = []string{"invalid"}
	}
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
	if len(o.Policies) == 0 {
		o.Policies = []asn1.ObjectIdentifier{OIDAnyPolicy}
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
func InitPKI(ctx context.Context, km kms.KeyManager, dir string, opts PKIOptions) ([]*Issuer, error) {
	opts.defaults()
	if existing, _ := filepath.Glob(filepath.Join(dir, "*.crt")); len(existing) > 0 {
		return nil, fmt.Errorf("%w: %s holds %s", ErrPKIExists, dir, filepath.Base(existing[0]))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ca: create %s: %w", dir, err)
	}
	now := time.Now().Truncate(time.Second)
	var out []*Issuer
	for _, s := range opts.Suites {
		if err := s.Valid(); err != nil {
			return nil, err
		}
		root, err := newCA(ctx, km, s, rootName(s), opts.commonName(rootName(s), s, true), &opts, nil, now, now.Add(opts.RootValidity))
		if err != nil {
			return nil, err
		}
		notAfter := now.Add(opts.IssuingValidity)
		if notAfter.After(root.Cert.NotAfter) {
			notAfter = root.Cert.NotAfter
		}
		issuing, err := newCA(ctx, km, s, issuingName(s), opts.commonName(issuingName(s), s, false), &opts, root, now, notAfter)
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

func newCA(ctx context.Context, km kms.KeyManager, s kms.Suite, name, cn string, opts *PKIOptions, parent *Issuer, notBefore, notAfter time.Time) (*Issuer, error) {
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
		Subject:               pkixName(cn, opts.Organization),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign | smx509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski,
		SignatureAlgorithm:    s.SignatureAlgorithm(),
	}
	if tmpl.Policies, err = toOIDs(opts.Policies); err != nil {
		return nil, err
	}
	issuerCert, issuerKey := tmpl, key
	if nc := opts.NameConstraints[s]; nc != nil && parent != nil {
		nc.apply(tmpl)
	}
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
	c := &Issuer{Name: name, Suite: s, Root: parent == nil, Cert: cert, Signer: key}
	if parent != nil {
		c.Parent = parent.Name
	}
	return c, nil
}

// LoadPKI reads the CA certificates in dir and their keys from km, checking
// that each key matches its certificate and each issuing CA chains to its
// root.
func LoadPKI(ctx context.Context, km kms.KeyManager, dir string) ([]*Issuer, error) {
	var out []*Issuer
	roots := map[kms.Suite]*Issuer{}
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
			c := &Issuer{Name: name, Suite: s, Cert: cert, Signer: key}
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
