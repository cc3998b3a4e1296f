package ca

import (
	"encoding/asn1"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/emmansun/gmsm/smx509"
)

// OIDAnyPolicy is anyPolicy (RFC 5280 §4.2.1.4), the default certificate
// policy of Tongxing's CA certificates: every policy below them is valid.
var OIDAnyPolicy = asn1.ObjectIdentifier{2, 5, 29, 32, 0}

// The default key-storage policy OIDs. They lie under IANA's documentation
// enterprise number 32473 (RFC 5612), like the default TSA policy: they are
// EXAMPLES, and a deployment sets OIDs its organisation has registered
// (ca.key_storage_policies).
var (
	// DefaultSoftwareKeyPolicy says the subscriber's key is held in
	// software (amr "swk", RFC 8176).
	DefaultSoftwareKeyPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 3, 1}
	// DefaultHardwareKeyPolicy says the registration officer recorded at
	// vetting that the key is held in hardware (amr "hwk").
	DefaultHardwareKeyPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 3, 2}
)

// KeyStoragePolicies are the certificate policy OIDs that say how a
// subscriber's key is held. Profiles with key_storage carry exactly one of
// them; the sign-on side reads it to tell "hwk" from "swk".
type KeyStoragePolicies struct {
	Software asn1.ObjectIdentifier
	Hardware asn1.ObjectIdentifier
}

// DefaultKeyStoragePolicies returns the example OIDs
// [DefaultSoftwareKeyPolicy] and [DefaultHardwareKeyPolicy].
func DefaultKeyStoragePolicies() KeyStoragePolicies {
	return KeyStoragePolicies{Software: DefaultSoftwareKeyPolicy, Hardware: DefaultHardwareKeyPolicy}
}

// AMR returns the RFC 8176 authentication method of cert's key: "hwk" when
// cert carries the hardware policy, "swk" when it carries the software
// policy, "" when it carries neither (a certificate from another CA or an
// earlier version), which a relying party should treat as "swk". It does
// NOT verify cert.
func (k KeyStoragePolicies) AMR(cert *smx509.Certificate) string {
	has := func(oid asn1.ObjectIdentifier) bool {
		return slices.ContainsFunc(cert.Policies, func(p smx509.OID) bool { return p.EqualASN1OID(oid) }) ||
			slices.ContainsFunc(cert.PolicyIdentifiers, oid.Equal)
	}
	switch {
	case has(k.Hardware):
		return "hwk"
	case has(k.Software):
		return "swk"
	}
	return ""
}

func (k KeyStoragePolicies) valid() error {
	if len(k.Software) < 2 || len(k.Hardware) < 2 || k.Software.Equal(k.Hardware) {
		return fmt.Errorf("ca: key storage policies must be two different OIDs (software %v, hardware %v)", k.Software, k.Hardware)
	}
	return nil
}

// WithKeyStoragePolicies sets the key-storage policy OIDs. Default
// [DefaultKeyStoragePolicies] (example OIDs).
func WithKeyStoragePolicies(k KeyStoragePolicies) Option {
	return func(a *Authority) { a.keyStorage = k }
}

// ParseOID parses a dotted OID such as "1.3.6.1.4.1.32473.2.1": at least
// two arcs, each a decimal number from 0 to 2^31, the first 0, 1 or 2 and
// the second below 40 under 0 and 1 (X.660). It is the one parser of OIDs
// from configuration and profiles.
func ParseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	for _, part := range strings.Split(s, ".") {
		n, ok := new(big.Int).SetString(part, 10)
		if !ok || n.Sign() < 0 || !n.IsInt64() || n.Int64() > 1<<31 {
			return nil, fmt.Errorf("ca: %q is not an OID: bad arc %q", s, part)
		}
		oid = append(oid, int(n.Int64()))
	}
	if len(oid) < 2 {
		return nil, fmt.Errorf("ca: %q is not an OID: too short", s)
	}
	if oid[0] > 2 || (oid[0] < 2 && oid[1] >= 40) {
		return nil, fmt.Errorf("ca: %q is not an OID: the first arc must be 0, 1 or 2, and the second below 40 under 0 and 1", s)
	}
	return oid, nil
}

// toOIDs converts OIDs for smx509's Policies field, which certificates are
// written from.
func toOIDs(oids []asn1.ObjectIdentifier) ([]smx509.OID, error) {
	out := make([]smx509.OID, 0, len(oids))
	for _, o := range oids {
		arcs := make([]uint64, len(o))
		for i, a := range o {
			if a < 0 {
				return nil, fmt.Errorf("ca: OID %v has a negative arc", o)
			}
			arcs[i] = uint64(a)
		}
		oid, err := smx509.OIDFromInts(arcs)
		if err != nil {
			return nil, fmt.Errorf("ca: OID %v: %w", o, err)
		}
		out = append(out, oid)
	}
	return out, nil
}
