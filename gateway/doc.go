// Package gateway is Tongxing's policy enforcement point: the reverse
// proxy at /gw/{department}/{path...} through which department services
// call each other.
//
// For every call it, in order: identifies the caller (an intl service
// certificate on the gateway's own mTLS listener, department and service
// from the SPIFFE ID, revocation checked against the CA; or a bearer
// access token of Tongxing's provider, verified in-process), matches the
// request to the resource catalogue, applies the caller's and the
// resource's rate limits, reads the body up to the resource's limit, asks
// the policy (package authz), digests the request with SM3, has the
// in-process TSA timestamp the digest, and appends the decision to the
// audit log — durably, before anything is forwarded. Denied calls end
// there with 403 and the policy's reasons. Allowed calls are forwarded
// over TLS with the gateway's own client certificate, with incoming
// Tongxing-* and hop-by-hop headers, Authorization and cookies removed and
// a Tongxing-Caller token added; JSON responses under a field obligation
// are filtered in a bounded buffer, others stream. A second audit entry,
// linked to the first, records the status (502 and 504 included) and
// latency.
//
// If the TSA or the audit log cannot serve, the call fails closed: 503
// with the reason, nothing forwarded, tongxing_gateway_unavailable_total
// raised. Both are reached through small interfaces ([Stamper],
// [Recorder]) so that faults can be injected.
//
// # Evidence
//
// The request digest is SM3 over the lines
//
//	tongxing-gateway-request-v1
//	METHOD
//	TARGET-DEPARTMENT
//	PATH       (below /gw/TARGET-DEPARTMENT, percent-encoded as forwarded)
//	RAW-QUERY
//	hex(SM3(body))
//	CALLER     (SPIFFE ID, or client:ID for tokens)
//	UNIX-NANOSECONDS
//
// each ended by "\n" ([RequestDigest]). The caller receives
// Tongxing-Timestamp (base64 DER of the SM2 timestamp token over the
// digest) and Tongxing-Audit-Index (the decision entry); the token is
// also kept beside the audit log, in the decision entry's commit
// (Config.Stamps), and no call is forwarded whose token could not be kept. The upstream
// receives the same timestamp and Tongxing-Caller: a JWS (ES256, typ
// tongxing-caller+jwt) signed by the gateway, naming the caller and
// carrying the digest inputs, with the department as audience, a 60-second
// lifetime and a random jti. [Verifier] checks both with the published keys
// alone (the JWKS at /gateway/v1/keys and the gm CA certificates) and
// refuses a replayed jti.
//
// Either party to a call may fetch the inclusion proof of the call's audit
// entries at /gateway/v1/evidence/{index} on the gateway listener, without
// being an auditor: the caller by the same identity it called with, the
// upstream by a service certificate of the called department.
package gateway
