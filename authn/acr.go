package authn

// Authentication context classes (the "acr" claim) and their mapping to the
// assurance levels (可信等级) of the provider; see the package documentation.
const (
	// ACRPassword: user name and password (argon2id), level 2.
	ACRPassword = "urn:tongxing:loa:2"
	// ACRTOTP: user name, password and an RFC 6238 one-time code, level 3.
	ACRTOTP = "urn:tongxing:loa:3"
	// ACRCertificate: a signature with a citizen-card or enterprise e-cert
	// certificate issued under the provider's certificate-login roots,
	// level 4.
	ACRCertificate = "urn:tongxing:loa:4"
)

// supportedACRs are the acr values a login can produce, lowest first.
var supportedACRs = []string{ACRPassword, ACRTOTP, ACRCertificate}

// acrValuesSupported returns the acr values of discovery, lowest first
// (a fresh slice).
func acrValuesSupported() []string { return append([]string(nil), supportedACRs...) }

// acrRank returns the level of acr (2 for urn:tongxing:loa:2), or 0 for a
// value this provider does not offer.
func acrRank(acr string) int {
	switch acr {
	case ACRPassword:
		return 2
	case ACRTOTP:
		return 3
	case ACRCertificate:
		return 4
	}
	return 0
}

// AMR values (RFC 8176).
const (
	amrPassword = "pwd"
	amrOTP      = "otp"
	amrMFA      = "mfa"
	amrHWK      = "hwk" // proof of possession of a hardware-secured key
	amrSWK      = "swk" // proof of possession of a software-secured key
)

// wantedRank returns the level a login for req and client c should reach:
// the higher of the client's min_acr and the first offered level named in
// acr_values.
func wantedRank(c *Client, req *AuthorizeRequest) int {
	want := acrRank(c.MinACR)
	for _, a := range req.ACRValues {
		if r := acrRank(a); r > 0 {
			return max(want, r)
		}
	}
	return want
}
