package acmeca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"strconv"
	"strings"

	"github.com/smallstep/certificates/acme"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/cas/apiv1"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/kms"
)

// RequestedByPrefix starts the requested_by of every certificate issued
// through ACME: "acme:DEPARTMENT" or "acme:DEPARTMENT:ACCOUNT".
const RequestedByPrefix = "acme:"

// CAS is Tongxing's CA as a step-ca certificate authority service
// (cas/apiv1.CertificateAuthorityService): step-ca validates the ACME order
// and builds a certificate template; CAS issues the certificate from the
// Tongxing profile through [ca.Authority.Issue], which records it in the
// inventory, and revokes through [ca.Authority.SetStatus]. It is safe for
// concurrent use.
//
// Errors that the ACME client caused are *acme.Error values (badCSR,
// rejectedIdentifier, badRevocationReason, alreadyRevoked), which step-ca
// passes on to the client; other errors reach the client as a server error
// without detail.
type CAS struct {
	ca      *ca.Authority
	ctx     context.Context
	opts    *options
	hints   *accountHints
	profile *ca.Profile
	log     *slog.Logger
}

var _ apiv1.CertificateAuthorityService = (*CAS)(nil)

// oidSubjectAltName is the subjectAltName extension (RFC 5280 §4.2.1.6).
var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// NewCAS returns the CAS of a's intl issuing CA for the departments of opts
// ([WithDepartments], [WithProfile], [WithLogger]; state options are
// ignored). Every department must be in a's department registry. step-ca calls a CAS without a context, so the values
// of ctx (not its cancellation or deadline) are passed to the CA calls.
func NewCAS(ctx context.Context, a *ca.Authority, opts ...Option) (*CAS, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return newCAS(ctx, a, o, newAccountHints())
}

func newCAS(ctx context.Context, a *ca.Authority, o *options, hints *accountHints) (*CAS, error) {
	if a == nil {
		return nil, errors.New("acmeca: no CA")
	}
	p, err := a.Profile(o.profile)
	if err != nil {
		return nil, fmt.Errorf("acmeca: %w", err)
	}
	if err := p.IssuableVia(ca.ViaACME); err != nil {
		return nil, fmt.Errorf("acmeca: %w", err)
	}
	if !p.Allows(kms.Intl) {
		return nil, fmt.Errorf("acmeca: profile %s does not allow the intl suite (ECDSA P-256)", p.Name)
	}
	if _, _, err := intlChain(a); err != nil {
		return nil, err
	}
	for _, d := range o.departments {
		if d == ca.TongxingDepartment {
			return nil, fmt.Errorf("acmeca: department %q is reserved for Tongxing's own certificates", d)
		}
		if _, err := a.Departments().Lookup(d); err != nil {
			return nil, fmt.Errorf("acmeca: ACME department %q: %w", d, err)
		}
	}
	return &CAS{ca: a, ctx: context.WithoutCancel(ctx), opts: o, hints: hints, profile: p, log: o.log}, nil
}

// intlChain returns a's intl roots and issuing CAs as crypto/x509 certificates.
func intlChain(a *ca.Authority) (roots, issuing []*x509.Certificate, err error) {
	for _, c := range a.CAs() {
		if c.Suite != kms.Intl {
			continue
		}
		cert, err := x509.ParseCertificate(c.Cert.Raw)
		if err != nil {
			return nil, nil, fmt.Errorf("acmeca: parse CA certificate %s: %w", c.Name, err)
		}
		if c.Root {
			roots = append(roots, cert)
		} else if c.Signer != nil {
			issuing = append(issuing, cert)
		}
	}
	if len(roots) == 0 || len(issuing) == 0 {
		return nil, nil, errors.New("acmeca: ACME issues in the intl suite, and this CA has no intl (ECDSA) root and issuing CA")
	}
	return roots, issuing, nil
}

// CreateCertificate issues the certificate step-ca validated: the CSR's
// ECDSA P-256 key, the template's DNS names and IP addresses, department =
// the provisioner's name. It does NOT use the template's subject, validity or
// extensions: those come from the Tongxing profile.
func (c *CAS) CreateCertificate(req *apiv1.CreateCertificateRequest) (*apiv1.CreateCertificateResponse, error) {
	if req == nil || req.Template == nil || req.CSR == nil {
		return nil, errors.New("acmeca: create certificate: no template or CSR")
	}
	if req.Provisioner == nil || req.Provisioner.Type != provisioner.TypeACME.String() || !c.opts.hasDepartment(req.Provisioner.Name) {
		return nil, fmt.Errorf("acmeca: create certificate: provisioner %+v is not an ACME provisioner of a configured department", req.Provisioner)
	}
	dept := req.Provisioner.Name
	pub, ok := req.CSR.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, acme.NewDetailedError(acme.ErrorBadCSRType, "the CSR's key must be ECDSA P-256 (got %s)", keyName(req.CSR.PublicKey))
	}
	t := req.Template
	if len(t.EmailAddresses) > 0 || len(t.URIs) > 0 || hasExtension(t, oidSubjectAltName) {
		return nil, acme.NewDetailedError(acme.ErrorRejectedIdentifierType, "only DNS names and IP addresses are issued through ACME")
	}
	dnsNames := append([]string(nil), t.DNSNames...)
	ips := make([]string, 0, len(t.IPAddresses))
	for _, ip := range t.IPAddresses {
		ips = append(ips, ip.String())
	}
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, acme.NewDetailedError(acme.ErrorRejectedIdentifierType, "the order names no DNS name or IP address")
	}
	first := ""
	if len(dnsNames) > 0 {
		first = dnsNames[0]
	} else {
		first = ips[0]
	}
	requestedBy := RequestedByPrefix + dept
	if acct := c.hints.account(hintKey(dept, dnsNames, ips)); acct != "" {
		requestedBy += ":" + acct
	}
	subj := ca.Subject{Department: dept, Service: ServiceSlug(first, c.domains(dept)), DNSNames: dnsNames, IPAddresses: ips}
	if !c.takes("dns_names") {
		subj.DNSNames = nil
	}
	if !c.takes("ip_addresses") {
		subj.IPAddresses = nil
	}
	if len(dnsNames) > 0 && subj.DNSNames == nil || len(ips) > 0 && subj.IPAddresses == nil {
		return nil, acme.NewDetailedError(acme.ErrorRejectedIdentifierType, "profile %s does not take the kind of name ordered", c.profile.Name)
	}
	issued, err := c.ca.Issue(c.ctx, ca.IssueRequest{PublicKey: pub, Profile: c.profile.Name, Subject: subj, RequestedBy: requestedBy, Via: ca.ViaACME})
	if err != nil {
		var re *ca.RequestError
		if errors.As(err, &re) && re.HTTPStatus() < http.StatusInternalServerError {
			typ := acme.ErrorRejectedIdentifierType
			if re.FieldName() == "csr" {
				typ = acme.ErrorBadCSRType
			}
			return nil, acme.NewDetailedError(typ, "%s", re.Error())
		}
		return nil, fmt.Errorf("acmeca: issue %s certificate for %s: %w", c.profile.Name, subj, err)
	}
	leaf, err := x509.ParseCertificate(issued.Certificate.Raw)
	if err != nil {
		return nil, fmt.Errorf("acmeca: parse issued certificate %s: %w", issued.Record.Serial, err)
	}
	chain := make([]*x509.Certificate, 0, len(issued.Chain))
	for _, ic := range issued.Chain {
		cert, err := x509.ParseCertificate(ic.Raw)
		if err != nil {
			return nil, fmt.Errorf("acmeca: parse issuing CA certificate: %w", err)
		}
		chain = append(chain, cert)
	}
	c.log.InfoContext(c.ctx, "ACME certificate issued", "serial", issued.Record.Serial, "department", dept,
		"service", subj.Service, "requested_by", requestedBy)
	return &apiv1.CreateCertificateResponse{Certificate: leaf, CertificateChain: chain}, nil
}

// domains returns the DNS domains of a department's name policy.
func (c *CAS) domains(dept string) []string {
	d, err := c.ca.Departments().Lookup(dept)
	if err != nil {
		return nil
	}
	return d.Domains
}

func (c *CAS) takes(field string) bool {
	for _, f := range c.profile.Allowed {
		if f == field {
			return true
		}
	}
	return false
}

// RenewCertificate is not offered: ACME clients renew with a new order, and
// step-ca's renewal API is not served.
func (c *CAS) RenewCertificate(*apiv1.RenewCertificateRequest) (*apiv1.RenewCertificateResponse, error) {
	return nil, apiv1.NotImplementedError{Message: "acmeca: renewal goes through a new ACME order"}
}

// RevokeCertificate revokes a certificate issued through ACME in the
// inventory (and so on the CRL and in OCSP), with the request's RFC 5280
// reason and actor "acme:DEPARTMENT". Certificates not issued through ACME,
// certificateHold and removeFromCRL are refused; an already revoked
// certificate gives an alreadyRevoked error. PassiveOnly is ignored: a
// revocation is always published.
func (c *CAS) RevokeCertificate(req *apiv1.RevokeCertificateRequest) (*apiv1.RevokeCertificateResponse, error) {
	if req == nil {
		return nil, errors.New("acmeca: revoke: no request")
	}
	var serial *big.Int
	switch {
	case req.Certificate != nil:
		serial = req.Certificate.SerialNumber
	case req.SerialNumber != "":
		n, ok := new(big.Int).SetString(req.SerialNumber, 10)
		if !ok {
			return nil, fmt.Errorf("acmeca: revoke: serial %q is not a decimal number", req.SerialNumber)
		}
		serial = n
	default:
		return nil, errors.New("acmeca: revoke: no certificate or serial number")
	}
	hexSerial := ca.SerialHex(serial)
	rec, err := c.ca.Certificate(c.ctx, hexSerial)
	if err != nil {
		return nil, fmt.Errorf("acmeca: revoke %s: %w", hexSerial, err)
	}
	dept, ok := acmeDepartment(rec.RequestedBy)
	if !ok {
		return nil, acme.NewDetailedError(acme.ErrorUnauthorizedType, "certificate %s was not issued through ACME", hexSerial)
	}
	if req.Certificate != nil && string(req.Certificate.Raw) != string(rec.DER) {
		return nil, acme.NewDetailedError(acme.ErrorMalformedType, "certificate %s differs from the one issued", hexSerial)
	}
	if rec.Status == ca.StatusRevoked {
		return nil, acme.NewError(acme.ErrorAlreadyRevokedType, "certificate %s is already revoked", hexSerial)
	}
	reason, err := ca.ParseReason(strconv.Itoa(req.ReasonCode))
	if err != nil {
		return nil, acme.NewDetailedError(acme.ErrorBadRevocationReasonType, "%d is not an RFC 5280 reason code", req.ReasonCode)
	}
	if reason == ca.ReasonCertificateHold || reason == ca.ReasonRemoveFromCRL {
		return nil, acme.NewDetailedError(acme.ErrorBadRevocationReasonType, "reason %s cannot be used through ACME (suspension is an officer's decision)", reason)
	}
	actor := RequestedByPrefix + dept
	updated, err := c.ca.SetStatus(c.ctx, ca.StatusChange{Serial: hexSerial, To: ca.StatusRevoked, Reason: reason, Actor: actor, Comment: "revoked through ACME"})
	switch {
	case err == nil:
	case updated != nil:
		// Recorded, but the CRL could not be regenerated now; the periodic
		// refresh publishes it.
		c.log.WarnContext(c.ctx, "ACME revocation recorded, CRL not regenerated", "serial", hexSerial, "err", err)
	default:
		var re *ca.RequestError
		if errors.As(err, &re) && re.HTTPStatus() == http.StatusConflict {
			return nil, acme.NewError(acme.ErrorAlreadyRevokedType, "certificate %s is already revoked", hexSerial)
		}
		return nil, fmt.Errorf("acmeca: revoke %s: %w", hexSerial, err)
	}
	c.log.InfoContext(c.ctx, "ACME certificate revoked", "serial", hexSerial, "department", dept, "reason", reason)
	return &apiv1.RevokeCertificateResponse{Certificate: req.Certificate}, nil
}

// acmeDepartment returns DEPARTMENT of "acme:DEPARTMENT[:ACCOUNT]".
func acmeDepartment(requestedBy string) (string, bool) {
	rest, ok := strings.CutPrefix(requestedBy, RequestedByPrefix)
	if !ok {
		return "", false
	}
	dept, _, _ := strings.Cut(rest, ":")
	return dept, slugRE.MatchString(dept)
}

func hasExtension(t *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	for _, e := range t.ExtraExtensions {
		if e.Id.Equal(oid) {
			return true
		}
	}
	return false
}

func keyName(k any) string {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != nil {
			return "ECDSA " + k.Curve.Params().Name
		}
		return "ECDSA"
	case nil:
		return "no key"
	default:
		return fmt.Sprintf("%T", k)
	}
}
