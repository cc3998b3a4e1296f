package kmc

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"

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
}

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
func (k *KMC) EnrolDual(ctx context.Context, csrPEM []byte, code string) (*DualResult, error) {
	csr, err := ca.ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	if pub, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok || !sm2.IsSM2PublicKey(pub) {
		return nil, &ca.RequestError{Field: "csr", Msg: "a dual enrolment needs an SM2 signing key; this CSR holds " + keyKind(csr.PublicKey), Err: ErrNotSM2}
	}
	sign, err := k.ca.Enrol(ctx, ca.EnrolRequest{CSR: csrPEM, Profile: SignProfile, Code: code})
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
	res, err := k.completeDual(ctx, sign)
	if err != nil {
		k.abandon(ctx, sign, res, err)
		return nil, err
	}
	k.log.InfoContext(ctx, "dual certificates issued", "sign_serial", res.SignSerial, "enc_serial", res.EncSerial)
	return res, nil
}

// completeDual issues the encryption certificate for sign, escrows its key
// and builds the CSRResponse. On failure res holds what was issued.
func (k *KMC) completeDual(ctx context.Context, sign *ca.Issued) (res *DualResult, err error) {
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
func (k *KMC) escrow(ctx context.Context, encSerial, signSerial, actor string, key *sm2.PrivateKey) error {
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
func (k *KMC) abandon(ctx context.Context, sign *ca.Issued, res *DualResult, cause error) {
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
