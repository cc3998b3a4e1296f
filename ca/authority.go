package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
)

// MaxCSRSize is the largest CSR, PEM or DER, the CA reads.
const MaxCSRSize = 16 << 10

// Authority issues certificates from the issuing CA of each suite. It is safe
// for concurrent use.
type Authority struct {
	cas          map[string]*Issuer
	issuers      map[kms.Suite]*Issuer
	profiles     map[string]*Profile
	inv          Inventory
	codes        Codes
	publicURL    string
	httpURL      string
	trustDomain  string
	pseudonymKey []byte
	now          func() time.Time
	log          *slog.Logger
	backdate     time.Duration
	crlValidity  time.Duration
	crls         crlCache
	auditor      Auditor
	departments  *department.Registry
	refusals     refusals
	keyStorage   KeyStoragePolicies
	hooksMu      sync.Mutex
	statusHooks  []func(context.Context, *Record)
}

// addStatusHook registers fn to run after every status change.
func (a *Authority) addStatusHook(fn func(context.Context, *Record)) {
	a.hooksMu.Lock()
	a.statusHooks = append(a.statusHooks, fn)
	a.hooksMu.Unlock()
}

// Option configures an [Authority].
type Option func(*Authority)

// WithProfiles replaces the built-in profiles.
func WithProfiles(p map[string]*Profile) Option { return func(a *Authority) { a.profiles = p } }

// WithPublicURL sets the base URL written into CRL distribution point, OCSP
// and caIssuers extensions. Default https://localhost:8443.
func WithPublicURL(u string) Option {
	return func(a *Authority) { a.publicURL = strings.TrimSuffix(u, "/") }
}

// WithPublicHTTPURL sets the plain-HTTP base URL of the repository (CRLs,
// OCSP, CA certificates), e.g. http://pki.example:8080. Certificates then
// name it first in their CRL distribution point, OCSP and caIssuers
// extensions, followed by the https URL of [WithPublicURL]: relying parties
// fetch these signed objects over plain HTTP (RFC 5280 §4.2.1.13, RFC 6960
// appendix A), and fetching them over TLS can loop on revocation checks.
// Default none (https URLs only).
func WithPublicHTTPURL(u string) Option {
	return func(a *Authority) { a.httpURL = strings.TrimSuffix(u, "/") }
}

// WithTrustDomain sets the SPIFFE trust domain of service certificates.
// Default "tongxing.internal".
func WithTrustDomain(td string) Option { return func(a *Authority) { a.trustDomain = td } }

// WithPseudonymKey sets the secret key of citizen ID pseudonyms. Required
// when the citizen profile writes pseudonyms (the default).
func WithPseudonymKey(k []byte) Option { return func(a *Authority) { a.pseudonymKey = k } }

// WithClock sets the time source. Default time.Now.
func WithClock(now func() time.Time) Option { return func(a *Authority) { a.now = now } }

// WithCRLValidity sets the time from a CRL's thisUpdate to its nextUpdate.
// Default 24h; CRLs are regenerated after half of it.
func WithCRLValidity(d time.Duration) Option { return func(a *Authority) { a.crlValidity = d } }

// WithLogger sets the structured logger. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(a *Authority) { a.log = l } }

// New returns an authority over cas, which must include, for each suite it
// issues in, an issuing CA with its signer. inv records issued certificates;
// codes holds enrolment codes.
func New(cas []*Issuer, inv Inventory, codes Codes, opts ...Option) (*Authority, error) {
	a := &Authority{
		cas:         map[string]*Issuer{},
		issuers:     map[kms.Suite]*Issuer{},
		inv:         inv,
		codes:       codes,
		publicURL:   "https://localhost:8443",
		trustDomain: "tongxing.internal",
		now:         time.Now,
		log:         slog.Default(),
		backdate:    time.Minute,
		crlValidity: DefaultCRLValidity,
		crls:        crlCache{crls: map[string]*CRL{}},
		keyStorage:  DefaultKeyStoragePolicies(),
	}
	for _, o := range opts {
		o(a)
	}
	a.refusals.defaults()
	if err := a.keyStorage.valid(); err != nil {
		return nil, err
	}
	if a.profiles == nil {
		p, err := LoadProfiles(BuiltinProfiles())
		if err != nil {
			return nil, err
		}
		a.profiles = p
	}
	for _, c := range cas {
		a.cas[c.Name] = c
		if !c.Root {
			if c.Signer == nil {
				return nil, fmt.Errorf("ca: issuing CA %s has no signer", c.Name)
			}
			a.issuers[c.Suite] = c
		}
	}
	if len(a.issuers) == 0 {
		return nil, errors.New("ca: no issuing CA")
	}
	if inv == nil || codes == nil {
		return nil, errors.New("ca: an inventory and a code store are required")
	}
	if _, err := url.Parse(a.publicURL); err != nil || !strings.HasPrefix(a.publicURL, "http") {
		return nil, fmt.Errorf("ca: public URL %q is not an http(s) URL", a.publicURL)
	}
	if a.httpURL != "" {
		if u, err := url.Parse(a.httpURL); err != nil || u.Scheme != "http" || u.Host == "" || u.RawQuery != "" {
			return nil, fmt.Errorf("ca: public HTTP URL %q is not an http:// URL", a.httpURL)
		}
	}
	for _, p := range a.profiles {
		if slices.Contains(p.Allowed, "id_number") && len(a.pseudonymKey) < 16 {
			return nil, fmt.Errorf("ca: profile %s takes ID numbers, whose pseudonyms need a pseudonym key of at least 16 bytes", p.Name)
		}
	}
	return a, nil
}

// CAs returns the authority's CA certificates, roots first.
func (a *Authority) CAs() []*Issuer {
	out := make([]*Issuer, 0, len(a.cas))
	for _, c := range a.cas {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Suite != out[j].Suite {
			return out[i].Suite < out[j].Suite
		}
		return out[i].Root && !out[j].Root
	})
	return out
}

// CA returns the CA named name.
func (a *Authority) CA(name string) (*Issuer, error) {
	c, ok := a.cas[name]
	if !ok {
		return nil, fmt.Errorf("%w: CA %q", ErrNotFound, name)
	}
	return c, nil
}

// Profile returns the named profile.
func (a *Authority) Profile(name string) (*Profile, error) {
	p, ok := a.profiles[name]
	if !ok {
		names := make([]string, 0, len(a.profiles))
		for n := range a.profiles {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, &RequestError{Field: "profile", Msg: fmt.Sprintf("unknown profile %q (known: %s)", name, strings.Join(names, ", ")), Err: ErrUnknownProfile}
	}
	return p, nil
}

// Chain returns the certificates from the CA named issuer up to, not
// including, its root: for an issuing CA the CA itself; nothing for a root.
// It fails with ErrNotFound for an unknown name.
func (a *Authority) Chain(issuer string) ([]*smx509.Certificate, error) {
	c, err := a.CA(issuer)
	if err != nil {
		return nil, err
	}
	return a.chain(c), nil
}

// chain is [Authority.Chain] of issuer: its certificate and its parents'
// up to, not including, the root.
func (a *Authority) chain(issuer *Issuer) []*smx509.Certificate {
	var out []*smx509.Certificate
	for c := issuer; c != nil && !c.Root; c = a.cas[c.Parent] {
		out = append(out, c.Cert)
	}
	return out
}

// ParseCSR decodes a PEM or DER certificate request of at most [MaxCSRSize]
// bytes and checks its self-signature (SM2 signatures with the default signer
// ID). Errors are [*RequestError]s on field "csr".
func ParseCSR(data []byte) (*smx509.CertificateRequest, error) { return parseCSR("csr", data) }

// parseCSR is [ParseCSR] with errors on field.
func parseCSR(field string, data []byte) (*smx509.CertificateRequest, error) {
	badField := func(_ string, err error, format string, args ...any) *RequestError {
		return &RequestError{Field: field, Msg: fmt.Sprintf(format, args...), Err: err}
	}
	if len(data) == 0 {
		return nil, badField("csr", nil, "empty")
	}
	if len(data) > MaxCSRSize {
		return nil, badField("csr", nil, "%d bytes, at most %d allowed", len(data), MaxCSRSize)
	}
	der := data
	if block, rest := pem.Decode(data); block != nil {
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, badField("csr", nil, "PEM block is %q, want CERTIFICATE REQUEST", block.Type)
		}
		if len(strings.TrimSpace(string(rest))) != 0 {
			return nil, badField("csr", nil, "trailing data after the PEM block")
		}
		der = block.Bytes
	} else if data[0] != 0x30 {
		return nil, badField("csr", nil, "neither PEM nor DER")
	}
	csr, err := smx509.ParseCertificateRequest(der)
	if err != nil {
		return nil, badField("csr", err, "malformed: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, badField("csr", err, "self-signature does not verify: %v", err)
	}
	return csr, nil
}

// IssueRequest asks for a certificate.
type IssueRequest struct {
	PublicKey   crypto.PublicKey // the subject's key, proven by a CSR or generated by Tongxing
	Profile     string
	Subject     Subject
	RequestedBy string // who authorised it, recorded in the inventory
	// Via is how the request reached the CA; default ViaInternal. Profiles
	// restrict it (see [Profile.IssuableVia]), and the department name
	// policy applies to ViaCode and ViaACME.
	Via Channel
	// HardwareKey states, on the registration officer's word, that the
	// subject's key is held in hardware; see [Profile.KeyStorage].
	HardwareKey bool
	// Source is the requester's network address, for the audit log.
	Source string
	// RedeemCode, when set, is the ID of an enrolment code to mark used in
	// the same transaction that records the certificate.
	RedeemCode string
}

// Issued is a newly issued certificate.
type Issued struct {
	Certificate *smx509.Certificate
	Chain       []*smx509.Certificate // issuing CA first, root excluded
	Record      *Record
	// Login is the login certificate issued in the same enrolment, if one
	// was asked for (see [EnrolRequest.LoginCSR]).
	Login *Issued
	// Repeated is set when [Authority.Enrol] returns certificates issued
	// earlier for the same code and key (a repeated request).
	Repeated bool

	source string // the requester's address, for the audit entry
}

// Issue checks req against its profile, signs the certificate with the
// issuing CA of the key's suite, records it, and returns it. The certificate
// is durable in the inventory before Issue returns.
func (a *Authority) Issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	set, err := a.issueSet(ctx, req.RedeemCode, req)
	if err != nil {
		return nil, err
	}
	return set[0], nil
}

// issueSet signs a certificate for each request and records them all, with
// the redemption of redeemCode when it is set, in one transaction: either
// every certificate is issued or none is.
func (a *Authority) issueSet(ctx context.Context, redeemCode string, reqs ...IssueRequest) ([]*Issued, error) {
	out := make([]*Issued, 0, len(reqs))
	for _, req := range reqs {
		iss, err := a.sign(req)
		if err != nil {
			return nil, err
		}
		out = append(out, iss)
	}
	if err := a.record(ctx, redeemCode, out...); err != nil {
		return nil, err
	}
	return out, nil
}

// record stores signed certificates, redeeming redeemCode when set, in one
// transaction, then audits and logs each.
func (a *Authority) record(ctx context.Context, redeemCode string, set ...*Issued) error {
	recs := make([]*Record, 0, len(set))
	evs := make([]AuditEvent, 0, len(set))
	for _, iss := range set {
		rec := iss.Record
		recs = append(recs, rec)
		evs = append(evs, AuditEvent{Action: "ca.certificate.issue", Actor: rec.RequestedBy, Source: iss.source,
			Resource: "ca:certificate:" + rec.Serial, Outcome: "success", Reasons: []string{"profile " + rec.Profile, "issuer " + rec.Issuer}})
	}
	if err := a.recordAudited(ctx, redeemCode, recs, evs); err != nil {
		return err
	}
	for _, rec := range recs {
		a.log.InfoContext(ctx, "certificate issued", "serial", rec.Serial, "profile", rec.Profile, "issuer", rec.Issuer, "requested_by", rec.RequestedBy)
	}
	return nil
}

// recordAudited stores recs and their issuance events: in one transaction
// when the inventory and the auditor can (a crash cannot leave a
// certificate without its audit entry), else one after the other.
func (a *Authority) recordAudited(ctx context.Context, redeemCode string, recs []*Record, evs []AuditEvent) error {
	ta, okA := a.auditor.(TxAuditor)
	ti, okI := a.inv.(TxInventory)
	if okA && okI {
		err := ti.RecordWith(ctx, redeemCode, func(ctx context.Context, tx *store.Tx) error { return ta.StageTx(ctx, tx, evs...) }, recs...)
		if err == nil {
			ta.Staged()
		}
		return err
	}
	if err := a.inv.Record(ctx, redeemCode, recs...); err != nil {
		return err
	}
	for i, ev := range evs {
		if err := a.audit(ctx, ev); err != nil {
			return fmt.Errorf("ca: certificate %s issued but not audited: %w", recs[i].Serial, err)
		}
	}
	return nil
}

// sign checks req against its profile and signs the certificate; the
// record it returns is not stored yet.
func (a *Authority) sign(req IssueRequest) (*Issued, error) {
	p, err := a.Profile(req.Profile)
	if err != nil {
		return nil, err
	}
	if err := p.IssuableVia(req.Via); err != nil {
		return nil, err
	}
	suite, err := kms.SuiteOf(req.PublicKey)
	if err != nil {
		return nil, badField("csr", err, "%v", err)
	}
	if !p.Allows(suite) {
		return nil, badField("csr", nil, "key algorithm %s is not allowed by profile %s (allowed: %v)", suiteKeyName(suite), p.Name, p.Suites)
	}
	issuer, ok := a.issuers[suite]
	if !ok {
		return nil, badField("csr", nil, "this CA has no %s issuing CA", suite)
	}
	subj := req.Subject
	if err := subj.validate(p); err != nil {
		return nil, err
	}
	if err := a.checkNamePolicy(p, &subj, req.Via); err != nil {
		return nil, err
	}
	spec, err := p.render(a.withPseudonym(subj), a.pseudonymKey, a.trustDomain)
	if err != nil {
		return nil, err
	}
	tmpl, err := a.template(spec, issuer, p, req.PublicKey, req.HardwareKey)
	if err != nil {
		return nil, err
	}
	if nc := constraintsOf(issuer.Cert); nc != nil {
		if name, ok := nc.permits(tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs); !ok {
			return nil, &RequestError{Field: "subject", Status: http.StatusForbidden,
				Msg: fmt.Sprintf("the name constraints of issuing CA %s do not permit %q", issuer.Name, name)}
		}
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, issuer.Cert, req.PublicKey, issuer.Signer)
	if err != nil {
		return nil, fmt.Errorf("ca: sign %s certificate: %w", p.Name, err)
	}
	cert, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parse issued certificate: %w", err)
	}
	rec := &Record{
		Serial:      SerialHex(cert.SerialNumber),
		Issuer:      issuer.Name,
		Profile:     p.Name,
		Suite:       suite,
		Subject:     cert.Subject.String(),
		NotBefore:   cert.NotBefore,
		NotAfter:    cert.NotAfter,
		Status:      StatusValid,
		DER:         der,
		RequestedBy: req.RequestedBy,
		CreatedAt:   a.now().UTC().Truncate(time.Second),
	}
	return &Issued{Certificate: cert, Chain: a.chain(issuer), Record: rec, source: req.Source}, nil
}

// withPseudonym returns subj with IDPseudonym computed from IDNumber when
// the subject holds the full number.
func (a *Authority) withPseudonym(subj Subject) Subject {
	if subj.IDNumber != "" {
		subj.IDPseudonym = ident.Pseudonym(a.pseudonymKey, subj.IDNumber)
	}
	return subj
}

func suiteKeyName(s kms.Suite) string {
	if s == kms.GM {
		return "SM2"
	}
	return "ECDSA P-256"
}

var (
	oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}
	keyUsages      = map[string]smx509.KeyUsage{
		"digitalSignature":  smx509.KeyUsageDigitalSignature,
		"contentCommitment": smx509.KeyUsageContentCommitment,
		"nonRepudiation":    smx509.KeyUsageContentCommitment,
		"keyEncipherment":   smx509.KeyUsageKeyEncipherment,
		"dataEncipherment":  smx509.KeyUsageDataEncipherment,
		"keyAgreement":      smx509.KeyUsageKeyAgreement,
	}
	extKeyUsages = map[string]struct {
		eku smx509.ExtKeyUsage
		oid asn1.ObjectIdentifier
	}{
		"serverAuth":   {smx509.ExtKeyUsageServerAuth, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}},
		"clientAuth":   {smx509.ExtKeyUsageClientAuth, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}},
		"timeStamping": {smx509.ExtKeyUsageTimeStamping, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}},
		"ocspSigning":  {smx509.ExtKeyUsageOCSPSigning, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 9}},
	}
)

// template turns a rendered profile into a certificate template.
func (a *Authority) template(spec *certSpec, issuer *Issuer, p *Profile, pub crypto.PublicKey, hardwareKey bool) (*smx509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	now := a.now().UTC().Truncate(time.Second)
	notBefore := now.Add(-a.backdate)
	notAfter := now.Add(p.Validity)
	if notAfter.After(issuer.Cert.NotAfter) {
		notAfter = issuer.Cert.NotAfter
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("ca: issuing CA %s expired at %s", issuer.Name, issuer.Cert.NotAfter.Format(time.RFC3339))
	}
	t := &smx509.Certificate{
		SerialNumber:          serial,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		SubjectKeyId:          ski,
		AuthorityKeyId:        issuer.Cert.SubjectKeyId,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    issuer.Suite.SignatureAlgorithm(),
		CRLDistributionPoints: a.urls("/ca/v1/crl/" + issuer.Name + ".crl"),
		OCSPServer:            a.urls("/ocsp"),
		IssuingCertificateURL: a.urls("/ca/v1/cas/" + issuer.Name + ".crt"),
		DNSNames:              spec.DNSNames,
	}
	if t.Policies, err = a.policies(p, hardwareKey); err != nil {
		return nil, err
	}
	t.Subject = spec.Subject.name()
	if t.IPAddresses, t.URIs, err = spec.sans(p); err != nil {
		return nil, err
	}
	if err := spec.usages(t, p); err != nil {
		return nil, err
	}
	for _, e := range spec.Extensions {
		oid, err := ParseOID(e.ID)
		if err != nil {
			return nil, fmt.Errorf("ca: profile %s: extension id: %w", p.Name, err)
		}
		t.ExtraExtensions = append(t.ExtraExtensions, pkix.Extension{Id: oid, Critical: e.Critical, Value: e.Value})
	}
	return t, nil
}

// policies are the certificate policies of a certificate of profile p:
// the profile's, and with key storage the software or hardware policy.
func (a *Authority) policies(p *Profile, hardwareKey bool) ([]smx509.OID, error) {
	policies := slices.Clone(p.policyOIDs)
	if p.KeyStorage {
		oid := a.keyStorage.Software
		if hardwareKey {
			oid = a.keyStorage.Hardware
		}
		policies = append(policies, oid)
	}
	return toOIDs(policies)
}

// name is the certificate subject of a rendered profile.
func (s certSubject) name() pkix.Name {
	n := pkix.Name{CommonName: s.CommonName, SerialNumber: s.SerialNumber, Organization: s.Organization, OrganizationalUnit: s.OrganizationalUnit}
	if s.Country != "" {
		n.Country = []string{s.Country}
	}
	if s.Province != "" {
		n.Province = []string{s.Province}
	}
	if s.Locality != "" {
		n.Locality = []string{s.Locality}
	}
	return n
}

// sans parses the IP address and URI subject alternative names.
func (spec *certSpec) sans(p *Profile) (ips []net.IP, uris []*url.URL, err error) {
	for _, ip := range spec.IPAddresses {
		parsed := net.ParseIP(ip)
		if parsed == nil {
			return nil, nil, badField("subject.ip_addresses", nil, "%q is not an IP address", ip)
		}
		ips = append(ips, parsed)
	}
	for _, u := range spec.URIs {
		parsed, err := url.Parse(u)
		if err != nil {
			return nil, nil, fmt.Errorf("ca: profile %s: URI SAN %q: %w", p.Name, u, err)
		}
		uris = append(uris, parsed)
	}
	return ips, uris, nil
}

// usages sets t's key usage and extended key usage, the latter critical
// when the profile says so.
func (spec *certSpec) usages(t *smx509.Certificate, p *Profile) error {
	for _, ku := range spec.KeyUsage {
		v, ok := keyUsages[ku]
		if !ok {
			return fmt.Errorf("ca: profile %s: unknown keyUsage %q", p.Name, ku)
		}
		t.KeyUsage |= v
	}
	var ekuOIDs []asn1.ObjectIdentifier
	for _, eku := range spec.ExtKeyUsage {
		v, ok := extKeyUsages[eku]
		if !ok {
			return fmt.Errorf("ca: profile %s: unknown extKeyUsage %q", p.Name, eku)
		}
		t.ExtKeyUsage = append(t.ExtKeyUsage, v.eku)
		ekuOIDs = append(ekuOIDs, v.oid)
	}
	if spec.ExtKeyUsageCritical && len(ekuOIDs) > 0 {
		// smx509 writes EKU non-critical; an ExtraExtensions entry with the
		// same OID replaces it.
		val, err := asn1.Marshal(ekuOIDs)
		if err != nil {
			return err
		}
		t.ExtraExtensions = append(t.ExtraExtensions, pkix.Extension{Id: oidExtKeyUsage, Critical: true, Value: val})
	}
	return nil
}

// urls returns the repository URLs of path: plain HTTP first when set,
// then https.
func (a *Authority) urls(path string) []string {
	if a.httpURL == "" {
		return []string{a.publicURL + path}
	}
	return []string{a.httpURL + path, a.publicURL + path}
}

func pkixName(cn, org string) pkix.Name {
	n := pkix.Name{CommonName: cn}
	if org != "" {
		n.Organization = []string{org}
	}
	return n
}

// SerialHex formats a serial as lower-case hex without leading zeros, the key
// of the inventory and of /ca/v1/certificates/{serial}.
func SerialHex(n *big.Int) string { return n.Text(16) }

// ParseSerial parses a hex serial (with or without colons, any case).
func ParseSerial(s string) (string, error) {
	clean := strings.ToLower(strings.ReplaceAll(s, ":", ""))
	if clean == "" || len(clean) > 42 {
		return "", badField("serial", nil, "%q is not a hex serial number", s)
	}
	if _, err := hex.DecodeString(strings.Repeat("0", len(clean)%2) + clean); err != nil {
		return "", badField("serial", nil, "%q is not a hex serial number", s)
	}
	n, _ := new(big.Int).SetString(clean, 16)
	return SerialHex(n), nil
}
