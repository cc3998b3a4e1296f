package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tongxing/tongxing/auditlog"
)

// Header names of the gateway.
const (
	HeaderPurpose    = "Tongxing-Purpose"
	HeaderTimestamp  = "Tongxing-Timestamp"
	HeaderAuditIndex = "Tongxing-Audit-Index"
	HeaderCaller     = "Tongxing-Caller"
	HeaderRevision   = "Tongxing-Policy-Revision"
	HeaderResource   = "Tongxing-Resource"
)

// MaxBearerLen bounds a bearer token in Authorization.
const MaxBearerLen = 8 << 10

// HeaderError is a request header the gateway refuses.
type HeaderError struct {
	Header string
	Reason string
}

func (e *HeaderError) Error() string { return e.Header + ": " + e.Reason }

// HTTPStatus is 400.
func (e *HeaderError) HTTPStatus() int { return http.StatusBadRequest }

// ParsePurpose returns the purpose code of Tongxing-Purpose: "" when the
// header is absent; an error when it is repeated, empty, or not 1 to 128
// characters from [A-Za-z0-9._:-] (the codes of the purpose catalogue).
// Whether the code exists is the policy's question.
func ParsePurpose(h http.Header) (string, error) {
	v, ok := h[http.CanonicalHeaderKey(HeaderPurpose)]
	if !ok {
		return "", nil
	}
	if len(v) != 1 {
		return "", &HeaderError{HeaderPurpose, "given more than once"}
	}
	p := strings.TrimSpace(v[0])
	if !auditlog.ValidPurpose(p) {
		return "", &HeaderError{HeaderPurpose, fmt.Sprintf("must be one purpose code: 1 to %d characters from [A-Za-z0-9._:-]", auditlog.MaxPurposeLen)}
	}
	return p, nil
}

// errNoBearer means the request carries no Authorization header.
var errNoBearer = errors.New("no bearer token")

// ParseBearer returns the token of "Authorization: Bearer TOKEN" (RFC
// 6750 §2.1; the scheme is case-insensitive). No header gives an error
// matching nothing else; a repeated header, another scheme, an empty or
// over-long token, or characters outside the b64token syntax are
// *HeaderError.
func ParseBearer(h http.Header) (string, error) {
	v, ok := h["Authorization"]
	if !ok {
		return "", errNoBearer
	}
	if len(v) != 1 {
		return "", &HeaderError{"Authorization", "given more than once"}
	}
	scheme, tok, ok := strings.Cut(v[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", &HeaderError{"Authorization", "only the Bearer scheme is accepted"}
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || len(tok) > MaxBearerLen {
		return "", &HeaderError{"Authorization", fmt.Sprintf("the bearer token must be 1 to %d characters", MaxBearerLen)}
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/=", c) >= 0) {
			return "", &HeaderError{"Authorization", "the bearer token has a character outside the b64token syntax"}
		}
	}
	return tok, nil
}

// hopByHop are the connection-level headers of RFC 9110 §7.6.1, never
// forwarded.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// notForwarded are the caller's headers the upstream never gets besides
// the hop-by-hop ones: its credential and cookies, forwarding headers (the
// gateway names the caller itself), and headers some frameworks read to
// take another method or path than the request line's, which the policy
// decided on.
var notForwarded = []string{"Authorization", "Cookie",
	"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip",
	"X-Http-Method-Override", "X-Http-Method", "X-Method-Override", "X-Original-Url", "X-Rewrite-Url",
	"X-Original-Uri", "X-Override-Url", "X-Forwarded-Prefix", "X-Forwarded-Path", "X-Forwarded-Uri", "X-Forwarded-Port", "X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Server"}

// cleanHeaders returns the headers forwarded to the upstream: the caller's
// minus every Tongxing-* header, the hop-by-hop headers and any header named
// in Connection, Authorization (the caller's own credential), cookies,
// forwarding headers (the gateway names the caller itself) and headers that
// override the method or path; and every header whose name has '_', which
// CGI-style servers read as the same variable as the name with '-' (so
// Tongxing_Caller would pass for Tongxing-Caller there), as nginx drops
// them by default.
func cleanHeaders(in http.Header) http.Header {
	out := in.Clone()
	for _, f := range in.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				out.Del(name)
			}
		}
	}
	for _, k := range hopByHop {
		out.Del(k)
	}
	for k := range out {
		if isTongxing(k) || strings.ContainsRune(k, '_') {
			delete(out, k)
		}
	}
	for _, k := range notForwarded {
		out.Del(k)
	}
	return out
}

// isTongxing reports whether header k is one of Tongxing's own
// (Tongxing-*, any case), which only the gateway sets.
func isTongxing(k string) bool {
	return len(k) >= len("tongxing-") && strings.EqualFold(k[:len("tongxing-")], "tongxing-")
}
