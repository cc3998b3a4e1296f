// Package ca is Tongxing's certificate authority: the two CA hierarchies (gm:
// SM2/SM3; intl: ECDSA P-256/SHA-256), certificate profiles, enrolment codes,
// issuance, the certificate inventory and its HTTP API (/ca/v1/...).
//
// Certificates follow RFC 5280; SM2 certificates use the GB/T 20518 / GM/T 0015
// algorithm identifiers and are signed with github.com/emmansun/gmsm/smx509,
// which also signs the ECDSA ones so that both suites take one code path.
//
// Profiles are data, not code: each is a YAML document (see profiles/*.yaml)
// naming the suites it allows, its validity, the subject fields it requires
// and a text/template that renders a JSON certificate description. The
// built-in profiles are citizen (一卡通), enterprise-sign and enterprise-enc
// (e证通), their browser login certificates citizen-login and
// enterprise-login (ECDSA P-256), service, tsa and ocsp. Profiles marked
// internal (tsa, ocsp) are issued only to Tongxing's own keys, kmc_only
// (enterprise-enc) only by the KMC: see [Channel].
//
// Service certificates requested with codes or through ACME meet the name
// policy of the department registry ([WithDepartments]). Enrolment codes
// keep only what their certificate carries and lose their subject when used
// or expired; enrolment is idempotent per code and key; refused enrolments
// are rate-limited and audited per source address ([Authority.CheckSource]).
//
// Every name in a certificate comes from the vetted [Subject] bound to an
// enrolment code by a registration officer; the CSR contributes only its
// public key and the proof that the requester holds the private key.
//
// Every certificate gets a random 159-bit serial number, subject and authority
// key identifiers, certificatePolicies (RFC 5280 §4.2.1.4), a CRL
// distribution point, OCSP and caIssuers URLs under the configured plain-HTTP
// and https public URLs, and a validity capped by its issuer's.
package ca
