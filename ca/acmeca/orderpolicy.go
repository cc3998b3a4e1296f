package acmeca

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/smallstep/certificates/acme"
	"go.step.sm/crypto/jose"

	"github.com/tongxing/tongxing/department"
)

// refuseNewOrder answers a new-order request itself, with a
// rejectedIdentifier problem naming the department's name policy, when an
// identifier of the order is not permitted to the department; it reports
// whether it did. The body is parsed with step-ca's own JWS parser, so
// that no serialization step-ca accepts slips past. Anything else,
// including a body that is not a JWS with an order payload, is left to
// step-ca, which authenticates the request (and refuses such a body).
// Looking at the payload before step-ca has verified the signature is
// safe: the only outcome is a refusal. The same policy is applied again
// when the order is finalized ([CAS.CreateCertificate]), so this check
// only spares a client the challenges of an order that could never be
// issued.
func (s *Server) refuseNewOrder(w http.ResponseWriter, r *http.Request) bool {
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), Prefix), "/")
	if r.Method != http.MethodPost || len(parts) != 2 || parts[1] != "new-order" {
		return false
	}
	dept, err := url.PathUnescape(parts[0])
	if err != nil || !s.opts.hasDepartment(dept) {
		return false
	}
	d, err := s.ca.Departments().Lookup(dept)
	if err != nil {
		return false
	}
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return false
	}
	// Parse the JWS exactly as step-ca does (jose.ParseJWS: compact or JSON
	// serialization, padded or unpadded base64url, whitespace stripped), so
	// that the payload checked here is the payload step-ca acts on.
	jws, err := jose.ParseJWS(string(body))
	if err != nil {
		return false
	}
	payload := jws.UnsafePayloadWithoutVerification()
	var order struct {
		Identifiers []acme.Identifier `json:"identifiers"`
	}
	if json.Unmarshal(payload, &order) != nil {
		return false
	}
	var refused *acme.Error
	for _, id := range order.Identifiers {
		err := permits(d, id)
		if err == nil {
			continue
		}
		if refused == nil {
			refused = acme.NewDetailedError(acme.ErrorRejectedIdentifierType, "%s", err)
		}
		refused.AddSubproblems(acme.NewSubproblemWithIdentifier(acme.ErrorRejectedIdentifierType, id, "%s", err))
	}
	if refused == nil {
		return false
	}
	if nonce, err := s.acmeDB.CreateNonce(r.Context()); err == nil {
		w.Header().Set("Replay-Nonce", string(nonce))
	}
	w.Header().Set("Cache-Control", "no-store")
	s.opts.log.InfoContext(r.Context(), "ACME order refused by the name policy", "department", dept, "err", refused.Err)
	refused.Render(w, r)
	return true
}

// permits checks one order identifier against d's name policy. Identifier
// types other than dns and ip are left to step-ca.
func permits(d *department.Department, id acme.Identifier) error {
	switch id.Type {
	case acme.DNS:
		return d.PermitsDNS(strings.ToLower(strings.TrimSuffix(id.Value, ".")))
	case acme.IP:
		ip := net.ParseIP(id.Value)
		if ip == nil {
			return nil
		}
		return d.PermitsIP(ip)
	}
	return nil
}
