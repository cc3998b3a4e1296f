package certlogin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"fmt"
	"slices"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/kms"
)

// SuiteOf returns the suite of leaf's key: [kms.GM] for an SM2 key,
// [kms.Intl] for an ECDSA P-256 key. Any other key is an error wrapping
// [ErrCertificate].
func SuiteOf(leaf *smx509.Certificate) (kms.Suite, error) {
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	switch {
	case ok && sm2.IsSM2PublicKey(pub):
		return kms.GM, nil
	case ok && pub.Curve == elliptic.P256():
		return kms.Intl, nil
	}
	return "", fmt.Errorf("%w: certificate %s has a %T key, want SM2 or ECDSA P-256", ErrCertificate, leaf.SerialNumber.Text(16), leaf.PublicKey)
}

// IdentityOf reads whom a verified login certificate identifies. It is the
// one rule of every certificate login (the challenge login of [Verify] and
// the provider's TLS client-certificate login), for both suites, so that
// a citizen's SM2 citizen-card certificate and ECDSA login certificate
// (profiles citizen and citizen-login) lead to the same account, and an
// enterprise's e-cert and its login certificate (enterprise-sign and
// enterprise-login) too:
//
//   - a certificate for a service, one with a URI subject alternative name
//     (a SPIFFE ID) or the extended key usage serverAuth, identifies no
//     person: [KindOther], whatever else it carries;
//   - a unified social credit code extension (GM/T 0015
//     1.2.156.10260.4.4, also the older arcs, validated GB 32100) makes a
//     legal person, [KindEnterprise]: OrgName is the first subject O,
//     AgentName the subject CN when it differs from OrgName;
//   - otherwise a subject serialNumber (Tongxing writes the keyed SM3
//     pseudonym of the ID number there) or a GM/T 0015 identity code
//     extension (1.2.156.10260.4.1.1, validated GB 11643) makes a citizen,
//     [KindCitizen];
//   - anything else is [KindOther], which maps to no account.
//
// A malformed identity extension is an error wrapping [ErrIdentity]; a key
// of neither suite one wrapping [ErrCertificate]. chain is recorded as
// given (leaf first, root last).
//
// IdentityOf does NOT verify leaf, its chain, validity or revocation: call
// it only on a certificate that has passed those checks against roots
// whose CAs write these fields only for vetted subjects.
func IdentityOf(leaf *smx509.Certificate, chain []*smx509.Certificate) (*Identity, error) {
	suite, err := SuiteOf(leaf)
	if err != nil {
		return nil, err
	}
	id := &Identity{
		Suite:       suite,
		Kind:        KindOther,
		Subject:     leaf.Subject.String(),
		Issuer:      leaf.Issuer.String(),
		CommonName:  leaf.Subject.CommonName,
		Serial:      leaf.SerialNumber.Text(16),
		NotAfter:    leaf.NotAfter,
		Certificate: leaf,
		Chain:       chain,
	}
	if len(leaf.URIs) > 0 || slices.Contains(leaf.ExtKeyUsage, smx509.ExtKeyUsageServerAuth) {
		return id, nil
	}
	uscc, ok, err := ident.USCCFrom(leaf.Extensions)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s: %w", ErrIdentity, id.Serial, err)
	}
	if ok {
		id.Kind = KindEnterprise
		id.USCC = uscc
		if len(leaf.Subject.Organization) > 0 {
			id.OrgName = leaf.Subject.Organization[0]
		}
		if id.CommonName != id.OrgName {
			id.AgentName = id.CommonName
		}
		return id, nil
	}
	code, ok, err := ident.IdentityCodeFrom(leaf.Extensions)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s: %w", ErrIdentity, id.Serial, err)
	}
	if ok {
		id.IdentityCode = code
	}
	id.Pseudonym = leaf.Subject.SerialNumber
	if id.Pseudonym != "" || id.IdentityCode != "" {
		id.Kind = KindCitizen
	}
	return id, nil
}
