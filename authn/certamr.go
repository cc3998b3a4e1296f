package authn

import "github.com/emmansun/gmsm/smx509"

// KeyStorage reads from a certificate how its subscriber's key is held:
// AMR returns "hwk" when the issuing CA recorded that the key is in
// hardware, "swk" when it recorded software, and "" when the certificate
// does not say. ca.KeyStoragePolicies implements it (the key-storage
// policy OIDs of Tongxing's CA). AMR must not verify the certificate: it
// is called on a verified one.
type KeyStorage interface {
	AMR(cert *smx509.Certificate) string
}

// WithKeyStorage sets how certificate login tells a hardware key from a
// software one (the server passes its CA's ca.KeyStoragePolicies). Only a
// certificate for which k says "hwk" logs in with amr "hwk"; every other
// certificate login, and every one when this option is not given, has amr
// "swk". The provider cannot see a key itself: "hwk" rests on the CA's
// record of the registration officer's word at vetting.
func WithKeyStorage(k KeyStorage) Option { return func(o *options) { o.keyStorage = k } }

// certAMR returns the RFC 8176 methods of a certificate login with cert
// (the TLS handshake or a signed challenge proved possession of its key):
// ["hwk"] when the certificate says its key is in hardware, else ["swk"].
// It never claims "sc" (smart card) or "mfa": a hardware-key policy does
// not say what kind of device holds the key, nor whether it asked for a
// PIN.
func (cl *certLogin) certAMR(cert *smx509.Certificate) []string {
	if cl.keyStorage != nil && cl.keyStorage.AMR(cert) == amrHWK {
		return []string{amrHWK}
	}
	return []string{amrSWK}
}
