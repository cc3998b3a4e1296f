package acmeca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/smallstep/certificates/acme"
	"github.com/smallstep/certificates/cas/apiv1"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/acmeca"
	"github.com/tongxing/tongxing/ca/catest"
)

// createRequest is what step-ca passes for an order of an ACME provisioner.
func createRequest(dept string, csr *x509.CertificateRequest) *apiv1.CreateCertificateRequest {
	return &apiv1.CreateCertificateRequest{
		Template:    &x509.Certificate{DNSNames: csr.DNSNames, IPAddresses: csr.IPAddresses, PublicKey: csr.PublicKey},
		CSR:         csr,
		Provisioner: &apiv1.ProvisionerInfo{ID: "acme/" + dept, Type: "ACME", Name: dept},
	}
}

func TestCreateCertificate(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	cas, err := acmeca.NewCAS(ctx, f.ca, acmeca.WithDepartments("tax", "health"), acmeca.WithLogger(catest.Discard()))
	if err != nil {
		t.Fatalf("NewCAS: %v", err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		req         func(t *testing.T) *apiv1.CreateCertificateRequest
		account     string // held as the finalizing account
		wantService string
		wantBy      string
		wantDNS     []string
		wantIPs     []string
		wantACME    string // ACME error type of a fail case ("badCSR"); "" for a server error
	}{
		{
			name: "ok/dns names",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), []string{"invoice.tax.example", "www.invoice.tax.example"}, nil)
				return createRequest("tax", csr)
			},
			wantService: "invoice", wantBy: "acme:tax",
			wantDNS: []string{"invoice.tax.example", "www.invoice.tax.example"},
		},
		{
			name: "ok/account of the finalizing order",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), []string{"payroll.tax.example"}, nil)
				return createRequest("tax", csr)
			},
			account:     "acct123",
			wantService: "payroll", wantBy: "acme:tax:acct123",
			wantDNS: []string{"payroll.tax.example"},
		},
		{
			name: "ok/slug relative to the department's domain",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), []string{"records.health.example"}, nil)
				return createRequest("health", csr)
			},
			wantService: "records", wantBy: "acme:health",
			wantDNS: []string{"records.health.example"},
		},
		{
			name: "ok/ip address only",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), nil, []net.IP{net.ParseIP("10.20.0.7")})
				return createRequest("tax", csr)
			},
			wantService: "ip-10-20-0-7", wantBy: "acme:tax",
			wantIPs: []string{"10.20.0.7"},
		},
		{
			name: "fail/RSA key",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), []string{"a.tax.example"}, nil)
				csr.PublicKey = &rsaKey.PublicKey
				return createRequest("tax", csr)
			},
			wantACME: acme.ErrorBadCSRType.String(),
		},
		{
			name: "fail/P-384 key",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P384(), []string{"a.tax.example"}, nil)
				return createRequest("tax", csr)
			},
			wantACME: acme.ErrorBadCSRType.String(),
		},
		{
			name: "fail/email address",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), []string{"a.tax.example"}, nil)
				r := createRequest("tax", csr)
				r.Template.EmailAddresses = []string{"ops@tax.example"}
				return r
			},
			wantACME: acme.ErrorRejectedIdentifierType.String(),
		},
		{
			name: "fail/URI",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), []string{"a.tax.example"}, nil)
				r := createRequest("tax", csr)
				r.Template.URIs = []*url.URL{{Scheme: "spiffe", Host: "evil", Path: "/dept/health/svc/x"}}
				return r
			},
			wantACME: acme.ErrorRejectedIdentifierType.String(),
		},
		{
			name: "fail/no names",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), nil, nil)
				return createRequest("tax", csr)
			},
			wantACME: acme.ErrorRejectedIdentifierType.String(),
		},
		{
			name: "fail/name Tongxing refuses",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), []string{"under_score.tax.example"}, nil)
				return createRequest("tax", csr)
			},
			wantACME: acme.ErrorRejectedIdentifierType.String(),
		},
		{
			name: "fail/name policy: www.gov.cn for tax",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), []string{"invoice.tax.example", "www.gov.cn"}, nil)
				return createRequest("tax", csr)
			},
			wantACME: acme.ErrorRejectedIdentifierType.String(),
		},
		{
			name: "fail/name policy: wildcard for tax",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), []string{"*.tax.example"}, nil)
				return createRequest("tax", csr)
			},
			wantACME: acme.ErrorRejectedIdentifierType.String(),
		},
		{
			name: "fail/name policy: 0.0.0.0 for tax",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), nil, []net.IP{net.IPv4zero})
				return createRequest("tax", csr)
			},
			wantACME: acme.ErrorRejectedIdentifierType.String(),
		},
		{
			name: "fail/department not configured",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), []string{"a.police.example"}, nil)
				return createRequest("police", csr)
			},
		},
		{
			name: "fail/not an ACME provisioner",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), []string{"a.tax.example"}, nil)
				r := createRequest("tax", csr)
				r.Provisioner.Type = "JWK"
				return r
			},
		},
		{
			name: "fail/no provisioner",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				csr, _ := newCSR(t, elliptic.P256(), []string{"a.tax.example"}, nil)
				r := createRequest("tax", csr)
				r.Provisioner = nil
				return r
			},
		},
		{
			name: "fail/no CSR",
			req: func(t *testing.T) *apiv1.CreateCertificateRequest {
				return &apiv1.CreateCertificateRequest{Template: &x509.Certificate{}, Provisioner: &apiv1.ProvisionerInfo{Type: "ACME", Name: "tax"}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req(t)
			if tt.account != "" {
				var ips []string
				for _, ip := range req.Template.IPAddresses {
					ips = append(ips, ip.String())
				}
				release := cas.HoldAccount(req.Provisioner.Name, req.Template.DNSNames, ips, tt.account)
				defer release()
			}
			before, _ := f.store.Certificates(ctx, ca.Filter{Limit: 1000})
			resp, err := cas.CreateCertificate(req)
			if strings.HasPrefix(tt.name, "fail/") {
				if err == nil {
					t.Fatalf("CreateCertificate succeeded, want an error")
				}
				var ae *acme.Error
				switch {
				case tt.wantACME != "" && !errors.As(err, &ae):
					t.Fatalf("error %v is not an ACME error", err)
				case tt.wantACME != "" && ae.Type != acmeURN(tt.wantACME):
					t.Fatalf("ACME error type %s, want %s (%v)", ae.Type, tt.wantACME, err)
				case tt.wantACME == "" && errors.As(err, &ae):
					t.Fatalf("error %v is an ACME client error, want a server error", err)
				}
				after, _ := f.store.Certificates(ctx, ca.Filter{Limit: 1000})
				if len(after) != len(before) {
					t.Fatalf("inventory grew from %d to %d on a refused request", len(before), len(after))
				}
				return
			}
			if err != nil {
				t.Fatalf("CreateCertificate: %v", err)
			}
			leaf := resp.Certificate
			if len(resp.CertificateChain) != 1 || !resp.CertificateChain[0].Equal(f.inter) {
				t.Fatalf("chain is not [intl issuing CA]: %d certificates", len(resp.CertificateChain))
			}
			name := ""
			if len(tt.wantDNS) > 0 {
				name = tt.wantDNS[0]
			}
			f.verify(t, leaf, name)
			if !slices.Equal(leaf.DNSNames, tt.wantDNS) {
				t.Errorf("DNS names %v, want %v", leaf.DNSNames, tt.wantDNS)
			}
			var gotIPs []string
			for _, ip := range leaf.IPAddresses {
				gotIPs = append(gotIPs, ip.String())
			}
			if !slices.Equal(gotIPs, tt.wantIPs) {
				t.Errorf("IP addresses %v, want %v", gotIPs, tt.wantIPs)
			}
			dept := req.Provisioner.Name
			if !slices.Equal(leaf.Subject.OrganizationalUnit, []string{dept}) {
				t.Errorf("OU %v, want [%s]", leaf.Subject.OrganizationalUnit, dept)
			}
			wantURI := "spiffe://tongxing.internal/dept/" + dept + "/svc/" + tt.wantService
			if len(leaf.URIs) != 1 || leaf.URIs[0].String() != wantURI {
				t.Errorf("URIs %v, want [%s]", leaf.URIs, wantURI)
			}
			if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(req.CSR.PublicKey) {
				t.Errorf("certificate key is not the CSR's")
			}
			rec, err := f.ca.Certificate(ctx, ca.SerialHex(leaf.SerialNumber))
			if err != nil {
				t.Fatalf("inventory has no record of %x: %v", leaf.SerialNumber, err)
			}
			if rec.Profile != "service" || rec.RequestedBy != tt.wantBy || rec.Status != ca.StatusValid || rec.Issuer != "intl-issuing" {
				t.Errorf("record profile=%s requested_by=%s status=%s issuer=%s, want service/%s/valid/intl-issuing",
					rec.Profile, rec.RequestedBy, rec.Status, rec.Issuer, tt.wantBy)
			}
			if string(rec.DER) != string(leaf.Raw) {
				t.Errorf("recorded DER differs from the returned certificate")
			}
		})
	}
}

func TestCreateCertificateAmbiguousAccount(t *testing.T) {
	f := newFixture(t, nil)
	cas, err := acmeca.NewCAS(context.Background(), f.ca, acmeca.WithDepartments("tax"), acmeca.WithLogger(catest.Discard()))
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := newCSR(t, elliptic.P256(), []string{"Shared.Tax.Example"}, nil)
	r1 := cas.HoldAccount("tax", []string{"shared.tax.example"}, nil, "acctA")
	r2 := cas.HoldAccount("tax", []string{"SHARED.tax.example."}, nil, "acctB")
	resp, err := cas.CreateCertificate(createRequest("tax", csr))
	r1()
	r2()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.ca.Certificate(context.Background(), ca.SerialHex(resp.Certificate.SerialNumber))
	if err != nil {
		t.Fatal(err)
	}
	if rec.RequestedBy != "acme:tax" {
		t.Fatalf("requested_by %q with two accounts finalizing the same names, want acme:tax", rec.RequestedBy)
	}
}

func TestRevokeCertificate(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	cas, err := acmeca.NewCAS(ctx, f.ca, acmeca.WithDepartments("tax"), acmeca.WithLogger(catest.Discard()))
	if err != nil {
		t.Fatal(err)
	}
	issue := func(t *testing.T, name string) *x509.Certificate {
		csr, _ := newCSR(t, elliptic.P256(), []string{name}, nil)
		resp, err := cas.CreateCertificate(createRequest("tax", csr))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Certificate
	}
	tests := []struct {
		name       string
		setup      func(t *testing.T) *apiv1.RevokeCertificateRequest
		wantReason ca.Reason
		wantACME   string
	}{
		{
			name: "ok/key compromise with the certificate",
			setup: func(t *testing.T) *apiv1.RevokeCertificateRequest {
				c := issue(t, "one.tax.example")
				return &apiv1.RevokeCertificateRequest{Certificate: c, SerialNumber: c.SerialNumber.String(), ReasonCode: 1}
			},
			wantReason: ca.ReasonKeyCompromise,
		},
		{
			name: "ok/unspecified by decimal serial",
			setup: func(t *testing.T) *apiv1.RevokeCertificateRequest {
				c := issue(t, "two.tax.example")
				return &apiv1.RevokeCertificateRequest{SerialNumber: c.SerialNumber.String()}
			},
			wantReason: ca.ReasonUnspecified,
		},
		{
			name: "ok/superseded while on hold",
			setup: func(t *testing.T) *apiv1.RevokeCertificateRequest {
				c := issue(t, "three.tax.example")
				if _, err := f.ca.SetStatus(ctx, ca.StatusChange{Serial: ca.SerialHex(c.SerialNumber), To: ca.StatusHold, Actor: "officer:li"}); err != nil {
					t.Fatal(err)
				}
				return &apiv1.RevokeCertificateRequest{Certificate: c, ReasonCode: 4}
			},
			wantReason: ca.ReasonSuperseded,
		},
		{
			name: "fail/already revoked by an officer",
			setup: func(t *testing.T) *apiv1.RevokeCertificateRequest {
				c := issue(t, "four.tax.example")
				if _, err := f.ca.SetStatus(ctx, ca.StatusChange{Serial: ca.SerialHex(c.SerialNumber), To: ca.StatusRevoked, Reason: ca.ReasonCessationOfOperation, Actor: "officer:li"}); err != nil {
					t.Fatal(err)
				}
				return &apiv1.RevokeCertificateRequest{Certificate: c, ReasonCode: 1}
			},
			wantACME: acme.ErrorAlreadyRevokedType.String(),
		},
		{
			name: "fail/certificateHold",
			setup: func(t *testing.T) *apiv1.RevokeCertificateRequest {
				return &apiv1.RevokeCertificateRequest{Certificate: issue(t, "five.tax.example"), ReasonCode: 6}
			},
			wantACME: acme.ErrorBadRevocationReasonType.String(),
		},
		{
			name: "fail/removeFromCRL",
			setup: func(t *testing.T) *apiv1.RevokeCertificateRequest {
				return &apiv1.RevokeCertificateRequest{Certificate: issue(t, "six.tax.example"), ReasonCode: 8}
			},
			wantACME: acme.ErrorBadRevocationReasonType.String(),
		},
		{
			name: "fail/unknown reason code",
			setup: func(t *testing.T) *apiv1.RevokeCertificateRequest {
				return &apiv1.RevokeCertificateRequest{Certificate: issue(t, "seven.tax.example"), ReasonCode: 7}
			},
			wantACME: acme.ErrorBadRevocationReasonType.String(),
		},
		{
			name: "fail/not issued through ACME",
			setup: func(t *testing.T) *apiv1.RevokeCertificateRequest {
				key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				iss, err := f.ca.Issue(ctx, ca.IssueRequest{PublicKey: key.Public(), Profile: "service", RequestedBy: "officer:li",
					Subject: ca.Subject{Department: "tax", Service: "gateway", DNSNames: []string{"gw.tax.example"}}})
				if err != nil {
					t.Fatal(err)
				}
				c, _ := x509.ParseCertificate(iss.Certificate.Raw)
				return &apiv1.RevokeCertificateRequest{Certificate: c, ReasonCode: 1}
			},
			wantACME: acme.ErrorUnauthorizedType.String(),
		},
		{
			name: "fail/unknown serial",
			setup: func(t *testing.T) *apiv1.RevokeCertificateRequest {
				return &apiv1.RevokeCertificateRequest{SerialNumber: "123456789"}
			},
		},
		{
			name: "fail/serial not decimal",
			setup: func(t *testing.T) *apiv1.RevokeCertificateRequest {
				return &apiv1.RevokeCertificateRequest{SerialNumber: "ab:cd"}
			},
		},
		{
			name: "fail/certificate differs from the recorded one",
			setup: func(t *testing.T) *apiv1.RevokeCertificateRequest {
				c := issue(t, "eight.tax.example")
				forged := *c
				forged.Raw = append([]byte(nil), c.Raw...)
				forged.Raw[len(forged.Raw)-1] ^= 1
				return &apiv1.RevokeCertificateRequest{Certificate: &forged, ReasonCode: 1}
			},
			wantACME: acme.ErrorMalformedType.String(),
		},
		{
			name:  "fail/empty request",
			setup: func(t *testing.T) *apiv1.RevokeCertificateRequest { return &apiv1.RevokeCertificateRequest{} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.setup(t)
			var before *ca.Record
			serial := ""
			if req.Certificate != nil {
				serial = ca.SerialHex(req.Certificate.SerialNumber)
			} else if n, ok := new(big.Int).SetString(req.SerialNumber, 10); ok {
				serial = ca.SerialHex(n)
			}
			if serial != "" {
				before, _ = f.ca.Certificate(ctx, serial)
			}
			_, err := cas.RevokeCertificate(req)
			if strings.HasPrefix(tt.name, "fail/") {
				if err == nil {
					t.Fatal("RevokeCertificate succeeded, want an error")
				}
				var ae *acme.Error
				if tt.wantACME != "" && (!errors.As(err, &ae) || ae.Type != acmeURN(tt.wantACME)) {
					t.Fatalf("error %v, want ACME %s", err, tt.wantACME)
				}
				if before != nil {
					after, _ := f.ca.Certificate(ctx, serial)
					if after.Status != before.Status {
						t.Fatalf("status moved from %s to %s on a refused revocation", before.Status, after.Status)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("RevokeCertificate: %v", err)
			}
			rec, err := f.ca.Certificate(ctx, serial)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != ca.StatusRevoked || rec.Reason == nil || *rec.Reason != tt.wantReason {
				t.Fatalf("record status %s reason %v, want revoked %s", rec.Status, rec.Reason, tt.wantReason)
			}
			evs, err := f.ca.Events(ctx, serial)
			if err != nil || len(evs) == 0 || evs[len(evs)-1].Actor != "acme:tax" {
				t.Fatalf("last status event %v (%v), want one by acme:tax", evs, err)
			}
			crl, err := f.ca.CurrentCRL(ctx, "intl-issuing")
			if err != nil {
				t.Fatal(err)
			}
			rl, err := x509.ParseRevocationList(crl.DER)
			if err != nil {
				t.Fatal(err)
			}
			if err := rl.CheckSignatureFrom(f.inter); err != nil {
				t.Fatalf("CRL signature: %v", err)
			}
			found := false
			for _, e := range rl.RevokedCertificateEntries {
				found = found || ca.SerialHex(e.SerialNumber) == serial
			}
			if !found {
				t.Fatalf("serial %s is not on CRL %d", serial, crl.Number)
			}
		})
	}
}

func TestRenewCertificateNotImplemented(t *testing.T) {
	f := newFixture(t, nil)
	cas, err := acmeca.NewCAS(context.Background(), f.ca, acmeca.WithDepartments("tax"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cas.RenewCertificate(&apiv1.RenewCertificateRequest{})
	var ni apiv1.NotImplementedError
	if !errors.As(err, &ni) {
		t.Fatalf("RenewCertificate error %v, want apiv1.NotImplementedError", err)
	}
}

// acmeURN is the problem type URN of an RFC 8555 error name.
func acmeURN(name string) string { return "urn:ietf:params:acme:error:" + name }
