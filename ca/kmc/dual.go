package kmc

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/store"
)

// DualResult is a newly issued dual-certificate pair.
type DualResult struct {
	SignCertificate *smx509.Certificate
	SignChain       []*smx509.Certificate // issuing CA first, root excluded
	SignSerial      string
	EncCertificate  *smx509.Certificate
	EncChain        []*smx509.Certificate // issuing CA first, root excluded
	EncSerial       string
	// CSRResponse is the DER GM/T 0092 CSRResponse: the signing certificate
	// (alone: see SignChain), the encryption private key as an
	// SM2EnvelopedKey (GB/T 35276) to the signing public key, and the
	// encryption certificate followed by its chain.
	CSRResponse []byte
	// Login is the ECDSA P-256 login certificate (profile
	// enterprise-login) when one was asked for, else nil.
	Login *ca.Issued
	// Repeated is set when the pair was issued earlier for the same code
	// and signing key: the same certificates, and the same escrowed
	// encryption key enveloped again.
	Repeated bool
}

// DualRequest is a subscriber's dual enrolment.
type DualRequest struct {
	CSR  []byte // PEM or DER CSR for the SM2 signing key
	Code string // enrolment code for [SignProfile]
	// LoginCSR, when set, asks for an enterprise-login certificate (ECDSA
	// P-256) for the same organisation in the same request.
	LoginCSR []byte
	// Source is the client's network address, for the audit log and the
	// rate limit on refusals.
	Source string
}

// EventRedelivered records that an escrowed encryption key was enveloped
// again for a repeated dual enrolment (actor: the enrolment code).
const EventRedelivered = "redelivered"

// redeliverWait bounds how long a repeated dual enrolment waits for the
// escrow of a pair that a concurrent request with the same code is making.
const redeliverWait = 5 * time.Second

// EnrolDual issues an e证通 dual-certificate pair. csrPEM is the
// subscriber's CSR (PEM or DER, at most [ca.MaxCSRSize]) for an SM2 signing
// key; code is an enrolment code for [SignProfile], which the CA redeems
// atomically with the signing certificate, so a code yields at most one pair.
//
// The KMC then generates the SM2 encryption key, has the CA issue the
// [EncProfile] certificate for the signing certificate's organisation,
// unified social credit code and common name (recorded as requested by
// "kmc:<signing serial>"), escrows the key and records that, all before it
// returns. The encryption private key leaves the KMC only inside
// CSRResponse, enveloped to the signing public key.
//
// Errors about the request are [*ca.RequestError]s on field "csr" or
// "enrolment_code". If a step fails after the code was redeemed, the
// certificates issued so far are revoked (cessationOfOperation) and the
// registration officer has to hand out a new code.
func (k *Centre) EnrolDual(ctx context.Context, csrPEM []byte, code string) (*DualResult, error) {
	return k.Enrol(ctx, DualRequest{CSR: csrPEM, Code: code})
}

// Enrol is [Centre.EnrolDual] with the options of req. Like
// [ca.Authority.Enrol] it is idempotent for the code's lifetime: the same
// code with a CSR for the same signing key returns the same pair, the
// escrowed encryption key enveloped again to the signing key (waiting a
// few seconds for a concurrent request's escrow); another key gets 409.
func (k *Centre) Enrol(ctx context.Context, req DualRequest) (*DualResult, error) {
	if err := k.ca.CheckSource(ctx, req.Source); err != nil {
		return nil, err
	}
	csr, err := ca.ParseCSR(req.CSR)
	if err == nil {
		if pub, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok || !sm2.IsSM2PublicKey(pub) {
			err = &ca.RequestError{Field: "csr", Msg: "a dual enrolment needs an SM2 signing key; this CSR holds " + keyKind(csr.PublicKey), Err: ErrNotSM2}
		}
	}
	if err != nil {
		return nil, errors.Join(err, k.ca.RefusedEnrolment(ctx, req.Source, "", err))
	}
	sign, err := k.ca.Enrol(ctx, ca.EnrolRequest{CSR: req.CSR, Profile: SignProfile, Code: req.Code, LoginCSR: req.LoginCSR, Source: req.Source})
	if err != nil {
		var re *ca.RequestError
		if errors.As(err, &re) && re.Field == "profile" {
			return nil, &ca.RequestError{Field: "enrolment_code", Status: http.StatusForbidden,
				Msg: "a dual enrolment needs an enrolment code for profile " + SignProfile + ": " + re.Msg, Err: err}
		}
		return nil, err
	}
	// The code is spent: finish even if the caller goes away.
	ctx = context.WithoutCancel(ctx)
	if sign.Repeated {
		return k.redeliver(ctx, sign)
	}
	res, err := k.completeDual(ctx, sign)
	if err != nil {
		k.abandon(ctx, sign, res, err)
		return nil, err
	}
	res.Login = sign.Login
	k.log.InfoContext(ctx, "dual certificates issued", "sign_serial", res.SignSerial, "enc_serial", res.EncSerial)
	return res, nil
}

// redeliver answers a repeated dual enrolment: the encryption certificate
// and escrowed key of sign's pair, the key enveloped again to sign's key.
func (k *Centre) redeliver(ctx context.Context, sign *ca.Issued) (*DualResult, error) {
	var (
		encSerial, keyID string
		nonce, ct        []byte
		err              error
	)
	deadline := time.Now().Add(redeliverWait)
	for {
		err = k.db.QueryRow(ctx, "SELECT enc_serial, master_key_id, nonce, ciphertext FROM kmc_escrow WHERE sign_serial = ?", sign.Record.Serial).
			Scan(&encSerial, &keyID, &nonce, &ct)
		if !errors.Is(err, sql.ErrNoRows) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &ca.RequestError{Field: "enrolment_code", Status: http.StatusConflict, Err: ca.ErrCodeUsed,
			Msg: "the pair for this enrolment code is still being made; ask again shortly"}
	}
	if err != nil {
		return nil, fmt.Errorf("kmc: look up the escrow of %s: %w", sign.Record.Serial, err)
	}
	encRec, err := k.ca.Certificate(ctx, encSerial)
	if err != nil {
		return nil, fmt.Errorf("kmc: encryption certificate %s: %w", encSerial, err)
	}
	if encRec.Status != ca.StatusValid {
		return nil, &ca.RequestError{Field: "enrolment_code", Status: http.StatusConflict, Err: ca.ErrCodeUsed,
			Msg: fmt.Sprintf("this enrolment code has already been used, and the encryption certificate issued for it (%s) is %s", encSerial, encRec.Status)}
	}
	encCert, err := smx509.ParseCertificate(encRec.DER)
	if err != nil {
		return nil, fmt.Errorf("kmc: parse encryption certificate %s: %w", encSerial, err)
	}
	encChain, err := k.ca.Chain(encRec.Issuer)
	if err != nil {
		return nil, err
	}
	key, err := k.open(encSerial, keyID, nonce, ct)
	if err != nil {
		return nil, err
	}
	encCerts := append([]*smx509.Certificate{encCert}, encChain...)
	csrResp, err := smx509.MarshalCSRResponse([]*smx509.Certificate{sign.Certificate}, key, encCerts)
	if err != nil {
		return nil, fmt.Errorf("kmc: build CSRResponse for %s: %w", sign.Record.Serial, err)
	}
	if err := insertEvent(ctx, k.db, &Event{EncSerial: encSerial, What: EventRedelivered, Actor: sign.Record.RequestedBy,
		Detail: "enveloped again to signing certificate " + sign.Record.Serial + " for a repeated dual enrolment", At: k.now().UTC()}); err != nil {
		return nil, err
	}
	k.log.InfoContext(ctx, "dual certificates delivered again", "sign_serial", sign.Record.Serial, "enc_serial", encSerial)
	return &DualResult{
		SignCertificate: sign.Certificate, SignChain: sign.Chain, SignSerial: sign.Record.Serial,
		EncCertificate: encCert, EncChain: encChain, EncSerial: encSerial,
		CSRResponse: csrResp, Login: sign.Login, Repeated: true,
	}, nil
}

// completeDual issues the encryption certificate for sign, escrows its key
// and builds the CSRResponse. On failure res holds what was issued.
func (k *Centre) completeDual(ctx context.Context, sign *ca.Issued) (res *DualResult, err error) {
	res = &DualResult{SignCertificate: sign.Certificate, SignChain: sign.Chain, SignSerial: sign.Record.Serial}
	subj, err := subjectOf(sign.Certificate)
	if err != nil {
		return res, err
	}
	encKey, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return res, fmt.Errorf("kmc: generate encryption key: %w", err)
	}
	enc, err := k.ca.Issue(ctx, ca.IssueRequest{
		PublicKey:   &encKey.PublicKey,
		Profile:     EncProfile,
		Subject:     subj,
		RequestedBy: "kmc:" + sign.Record.Serial,
		Via:         ca.ViaKMC,
	})
	if err != nil {
		return res, fmt.Errorf("kmc: issue encryption certificate for %s: %w", sign.Record.Serial, err)
	}
	res.EncCertificate, res.EncChain, res.EncSerial = enc.Certificate, enc.Chain, enc.Record.Serial
	if err := k.escrow(ctx, res.EncSerial, res.SignSerial, sign.Record.RequestedBy, encKey); err != nil {
		return res, err
	}
	// signCertificate is a DER SET OF, whose elements encoding/asn1 sorts:
	// with the chain in it a CA certificate could come first, and readers
	// (smx509.ParseCSRResponse among them) take the first as the signing
	// certificate. So it holds the signing certificate alone; the chain is
	// returned beside the CSRResponse. encryptCertificate keeps its order.
	encCerts := append([]*smx509.Certificate{enc.Certificate}, enc.Chain...)
	res.CSRResponse, err = smx509.MarshalCSRResponse([]*smx509.Certificate{sign.Certificate}, encKey, encCerts)
	if err != nil {
		return res, fmt.Errorf("kmc: build CSRResponse for %s: %w", res.SignSerial, err)
	}
	return res, nil
}

// escrow stores key sealed under the master key, and the event, in one
// transaction.
func (k *Centre) escrow(ctx context.Context, encSerial, signSerial, actor string, key *sm2.PrivateKey) error {
	nonce, ct, err := k.seal(encSerial, key)
	if err != nil {
		return err
	}
	now := k.now().UTC()
	err = k.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO kmc_escrow (enc_serial, sign_serial, master_key_id, nonce, ciphertext, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			encSerial, signSerial, k.keyID, nonce, ct, now.Unix()); err != nil {
			return err
		}
		return insertEvent(ctx, tx, &Event{EncSerial: encSerial, What: EventEscrowed, Actor: actor, Detail: "signing certificate " + signSerial, At: now})
	})
	if err != nil {
		return fmt.Errorf("kmc: escrow encryption key of %s: %w", encSerial, err)
	}
	return nil
}

// abandon revokes what a failed dual enrolment issued, so no certificate
// exists whose encryption key was neither escrowed nor delivered.
func (k *Centre) abandon(ctx context.Context, sign *ca.Issued, res *DualResult, cause error) {
	k.log.ErrorContext(ctx, "dual enrolment failed after the code was redeemed", "sign_serial", sign.Record.Serial, "err", cause)
	serials := []string{sign.Record.Serial}
	if res != nil && res.EncSerial != "" {
		serials = append(serials, res.EncSerial)
	}
	for _, s := range serials {
		_, err := k.ca.SetStatus(ctx, ca.StatusChange{Serial: s, To: ca.StatusRevoked, Reason: ca.ReasonCessationOfOperation,
			Actor: "kmc", Comment: "dual enrolment failed before the pair was delivered"})
		if err != nil {
			k.log.ErrorContext(ctx, "could not revoke a certificate of a failed dual enrolment", "serial", s, "err", err)
		}
	}
}

// subjectOf rebuilds the vetted subject of an enterprise-sign certificate:
// organisation, unified social credit code, and the common name as name when
// it is not the organisation.
func subjectOf(cert *smx509.Certificate) (ca.Subject, error) {
	if len(cert.Subject.Organization) != 1 {
		return ca.Subject{}, fmt.Errorf("kmc: signing certificate %s has %d organisation names, want 1", ca.SerialHex(cert.SerialNumber), len(cert.Subject.Organization))
	}
	uscc, ok, err := ident.USCCFrom(cert.Extensions)
	if err != nil {
		return ca.Subject{}, fmt.Errorf("kmc: signing certificate %s: %w", ca.SerialHex(cert.SerialNumber), err)
	}
	if !ok {
		return ca.Subject{}, fmt.Errorf("kmc: signing certificate %s has no unified social credit code", ca.SerialHex(cert.SerialNumber))
	}
	s := ca.Subject{Organization: cert.Subject.Organization[0], USCC: uscc}
	if cn := cert.Subject.CommonName; cn != s.Organization {
		s.Name = cn
	}
	return s, nil
}

func keyKind(pub any) string {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		return "an ECDSA " + p.Curve.Params().Name + " key"
	case *rsa.PublicKey:
		return "an RSA key"
	}
	return fmt.Sprintf("a %T key", pub)
}
