// Package acmeca serves ACME (RFC 8555) for department service certificates.
// The protocol is github.com/smallstep/certificates' ACME server (packages
// acme, acme/api and authority, one ACME provisioner per department); the
// certificates are issued by Tongxing's own CA through step-ca's
// certificate-authority-service seam (cas/apiv1), so every ACME certificate is
// recorded in Tongxing's inventory and appears on its CRL and in its OCSP
// answers like any other.
//
// # Endpoints
//
// Each configured department has a directory at
// https://HOST/acme/DEPARTMENT/directory (for example /acme/tax/directory).
// The challenges offered are http-01, dns-01 and tls-alpn-01 (RFC 8737).
// Validation connects to NAME:80 (http-01) and NAME:443 (tls-alpn-01) with
// [WithChallengeDialer]'s dialer, never through a proxy, and reads at most
// 8 KiB of an http-01 answer. As in step-ca, a connection failure leaves the
// challenge pending so that the client may retry; a wrong answer makes it
// invalid. Request bodies are limited to [MaxRequestBody].
// External account binding (RFC 8555 §7.3.4) is optional; with
// [WithExternalAccountBinding] every department requires it and officers hand
// out keys made by [Server.NewExternalAccountKey].
//
// # What is issued
//
// Only the intl suite: the CSR's key must be ECDSA P-256. Each certificate is
// made from the Tongxing profile "service" (see [WithProfile]) with
//
//   - department: the provisioner's name, i.e. the DEPARTMENT of the URL;
//   - service: a slug derived from the first DNS name of the order, relative
//     to the department's domain (see [ServiceSlug]);
//   - DNS names and IP addresses: the order's identifiers, exactly as step-ca
//     validated them against the challenges and the CSR;
//   - requested_by: "acme:DEPARTMENT:ACCOUNT" where ACCOUNT is the ACME
//     account ID that finalized the order ("acme:DEPARTMENT" in the rare case
//     that two accounts finalize orders for the same names at the same time).
//
// The validity is the profile's; the notBefore/notAfter an ACME client may ask
// for in its order is not honoured. Names other than DNS names and IP
// addresses are refused.
//
// # Name policy
//
// What a department may order is its name policy in Tongxing's department
// registry ([ca.WithDepartments], package department), the same policy that
// enrolment codes for service certificates meet: DNS names under the
// department's domains, wildcards only where the department allows them, IP
// addresses in its ranges. An ACME department must be in the registry. A
// new-order for any other identifier is refused at once with
// rejectedIdentifier, naming the policy (the payload is read before step-ca
// authenticates the request; a refusal is the only outcome), and the CA
// applies the policy again when the order is finalized.
//
// Revocation through ACME (RFC 8555 §7.6) revokes the certificate in the
// inventory with the given RFC 5280 reason and actor "acme:DEPARTMENT", and
// regenerates the CRL. certificateHold and removeFromCRL are refused there
// (suspension is an officer's decision). A certificate revoked by an officer
// is reported as already revoked to ACME clients. Renewal goes through a new
// ACME order; step-ca's own /renew API is not mounted.
//
// # State
//
// ACME accounts, orders, authorizations, challenges and nonces live in a
// github.com/smallstep/nosql database: a bbolt file DIR/acme.db for
// deployments on SQLite ([WithStateDir]), or, for deployments on PostgreSQL,
// tables in the schema "acme" of the same PostgreSQL database
// ([WithPostgres]), so that every replica sees the same accounts and nonces.
// The same store keeps step-ca's own copy of issued certificates and
// revocations; Tongxing's inventory stays the authority on revocation status
// (an officer's revocation is what ACME clients see).
//
// Errors answered to ACME clients are logged: server errors at Error, client
// errors at Debug.
package acmeca
