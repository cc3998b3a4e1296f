package ca

import (
	"context"
	"fmt"
	"net/http"

	"github.com/emmansun/gmsm/smx509"
)

// repeat answers an enrolment with a used code (hash h): the certificates
// issued for the code when csr (and loginCSR, if given) hold the keys they
// were issued for, else a 409 [ErrCodeUsed]. A certificate revoked or
// suspended since is not handed out again.
func (a *Authority) repeat(ctx context.Context, h []byte, csr, loginCSR *smx509.CertificateRequest, source string) (*Issued, error) {
	used := func(msg string) error {
		return &RequestError{Field: "enrolment_code", Status: http.StatusConflict, Msg: msg, Err: ErrCodeUsed}
	}
	c, err := a.codes.CodeByHash(ctx, h) // again: a concurrent request may just have used it
	if err != nil {
		return nil, err
	}
	if c.UsedSerial == "" {
		return nil, used("this enrolment code has already been used")
	}
	recs, err := a.inv.Certificates(ctx, Filter{RequestedBy: "code:" + c.ID, Limit: 16})
	if err != nil {
		return nil, err
	}
	p, err := a.Profile(c.Profile)
	if err != nil {
		return nil, err
	}
	var main, login *Record
	for _, r := range recs {
		switch {
		case r.Serial == c.UsedSerial:
			main = r
		case p.LoginProfile != "" && r.Profile == p.LoginProfile:
			login = r
		}
	}
	if main == nil {
		return nil, used("this enrolment code has already been used")
	}
	mainIss, ok, err := a.reissued(main, csr)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, used("this enrolment code has already been used, for another key")
	}
	if main.Status != StatusValid {
		return nil, used(fmt.Sprintf("this enrolment code has already been used, and the certificate issued for it (%s) is %s; ask the registration officer for a new code", main.Serial, main.Status))
	}
	if loginCSR != nil {
		if login == nil {
			return nil, used("this enrolment code has already been used, without a login certificate")
		}
		li, ok, err := a.reissued(login, loginCSR)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, used("this enrolment code has already been used, for another login key")
		}
		if login.Status != StatusValid {
			return nil, used(fmt.Sprintf("this enrolment code has already been used, and its login certificate (%s) is %s", login.Serial, login.Status))
		}
		mainIss.Login = li
	}
	if err := a.audit(ctx, AuditEvent{Action: "ca.certificate.enrol-repeat", Actor: "code:" + c.ID, Source: source,
		Resource: "ca:certificate:" + main.Serial, Outcome: "success", Reasons: []string{"the same key asked again with the used code"}}); err != nil {
		return nil, err
	}
	a.log.InfoContext(ctx, "enrolment repeated", "code_id", c.ID, "serial", main.Serial)
	return mainIss, nil
}

// reissued returns rec as an Issued when csr holds its key.
func (a *Authority) reissued(rec *Record, csr *smx509.CertificateRequest) (*Issued, bool, error) {
	cert, err := smx509.ParseCertificate(rec.DER)
	if err != nil {
		return nil, false, fmt.Errorf("ca: parse recorded certificate %s: %w", rec.Serial, err)
	}
	if !publicKeysEqual(cert.PublicKey, csr.PublicKey) {
		return nil, false, nil
	}
	issuer, err := a.CA(rec.Issuer)
	if err != nil {
		return nil, false, err
	}
	return &Issued{Certificate: cert, Chain: a.chain(issuer), Record: rec, Repeated: true}, true, nil
}
