package kmc

import (
	"encoding/pem"
	"net/http"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/endpoint"
)

// Body size limits of the KMC endpoints.
const (
	// maxDualBody bounds POST /ca/v1/kmc/dual: two CSRs and a code.
	maxDualBody = 2*ca.MaxCSRSize + 4<<10
	// maxRecoveryBody bounds POST /ca/v1/kmc/recoveries.
	maxRecoveryBody = MaxPublicKeyPEM + MaxReason*6 + 1<<10
	// maxSmallBody bounds the bodies of approve, reject and deliver.
	maxSmallBody = 4 << 10
)

// DualRequestJSON is the body of POST /ca/v1/kmc/dual.
type DualRequestJSON struct {
	CSR           string `json:"csr"` // PEM CERTIFICATE REQUEST for the SM2 signing key
	EnrolmentCode string `json:"enrolment_code"`
	// LoginCSR optionally asks for an enterprise-login certificate too
	// (PEM CSR for an ECDSA P-256 key).
	LoginCSR string `json:"login_csr,omitempty"`
}

// DualJSON is the response to a dual enrolment. Certificates are PEM; chains
// start with the issuing CA and exclude the root.
type DualJSON struct {
	SignCertificate string   `json:"sign_certificate"`
	SignChain       []string `json:"sign_chain"`
	SignSerial      string   `json:"sign_serial"`
	EncCertificate  string   `json:"enc_certificate"`
	EncChain        []string `json:"enc_chain"`
	EncSerial       string   `json:"enc_serial"`
	CSRResponse     []byte   `json:"csr_response"` // DER GM/T 0092 CSRResponse, base64
	// Login is the enterprise-login certificate when login_csr was given.
	Login *ca.IssuedJSON `json:"login,omitempty"`
}

// RecoveryRequestJSON is the body of POST /ca/v1/kmc/recoveries.
type RecoveryRequestJSON struct {
	EncSerial string `json:"enc_serial"`
	Reason    string `json:"reason"`
	DeliverTo string `json:"deliver_to"` // PEM PUBLIC KEY of an SM2 key
}

// RecoveryJSON is a recovery in API responses.
type RecoveryJSON struct {
	*Recovery
	DeliverTo         string   `json:"deliver_to"` // PEM PUBLIC KEY
	RequiredApprovals int      `json:"required_approvals"`
	Events            []*Event `json:"events,omitempty"`
}

// RejectJSON is the optional body of POST /ca/v1/kmc/recoveries/{id}/reject.
type RejectJSON struct {
	Comment string `json:"comment,omitempty"`
}

// DeliveryJSON is the response of POST /ca/v1/kmc/recoveries/{id}/deliver.
type DeliveryJSON struct {
	EnvelopedKey   []byte       `json:"enveloped_key"`   // GB/T 35276 SM2EnvelopedKey, base64
	EncCertificate string       `json:"enc_certificate"` // PEM
	Recovery       RecoveryJSON `json:"recovery"`
}

// API serves /ca/v1/kmc/... for a [Centre].
type API struct {
	k     *Centre
	guard ca.Guard
	opts  *endpoint.Options
}

// NewAPI returns the HTTP API of k. Officer endpoints are wrapped by guard
// with role ra.
func NewAPI(k *Centre, guard ca.Guard) *API {
	return &API{k: k, guard: guard, opts: &endpoint.Options{Log: k.log}}
}

// Routes registers the KMC endpoints on mux; officer endpoints are wrapped
// by the guard with role ra:
//
//	POST /ca/v1/kmc/dual                       dual enrolment with a CSR and an enterprise-sign enrolment code (public);
//	                                           201, or 200 when the same code and signing key ask again
//	POST /ca/v1/kmc/recoveries                 request a key recovery (role ra)
//	GET  /ca/v1/kmc/recoveries                 list recoveries, ?status=requested|approved|delivered|rejected (role ra)
//	GET  /ca/v1/kmc/recoveries/{id}            one recovery with its events (role ra)
//	POST /ca/v1/kmc/recoveries/{id}/approve    approve (role ra; not the requester)
//	POST /ca/v1/kmc/recoveries/{id}/reject     reject, {"comment": "..."} optional (role ra)
//	POST /ca/v1/kmc/recoveries/{id}/deliver    deliver the enveloped key of an approved recovery, once (role ra)
//
// Errors are problem+json (RFC 9457) naming the field at fault.
func (a *API) Routes(mux *http.ServeMux) {
	ra := func(next http.Handler) http.Handler { return a.guard(access.RoleRA, next) }
	mux.Handle("POST /ca/v1/kmc/dual", ca.SubscriberEndpoint(a.k.ca, a.k.log, maxDualBody, a.dual))
	mux.Handle("POST /ca/v1/kmc/recoveries", ra(endpoint.JSON(a.opts, maxRecoveryBody, a.requestRecovery)))
	mux.Handle("GET /ca/v1/kmc/recoveries", ra(endpoint.Call(a.opts, a.listRecoveries)))
	mux.Handle("GET /ca/v1/kmc/recoveries/{id}", ra(endpoint.Call(a.opts, a.getRecovery)))
	mux.Handle("POST /ca/v1/kmc/recoveries/{id}/approve", ra(endpoint.OptionalJSON(a.opts, maxSmallBody, a.approve)))
	mux.Handle("POST /ca/v1/kmc/recoveries/{id}/reject", ra(endpoint.OptionalJSON(a.opts, maxSmallBody, a.reject)))
	mux.Handle("POST /ca/v1/kmc/recoveries/{id}/deliver", ra(endpoint.OptionalJSON(a.opts, maxSmallBody, a.deliver)))
}

// Validate requires the CSR.
func (d DualRequestJSON) Validate() error {
	if d.CSR == "" {
		return badRequest("csr", "required")
	}
	return nil
}

func (a *API) dual(r *http.Request, req DualRequestJSON) (*endpoint.Reply, error) {
	res, err := a.k.Enrol(r.Context(), DualRequest{CSR: []byte(req.CSR), Code: req.EnrolmentCode, LoginCSR: []byte(req.LoginCSR), Source: r.RemoteAddr})
	if err != nil {
		return nil, err
	}
	var login *ca.IssuedJSON
	if res.Login != nil {
		login = ca.NewIssuedJSON(res.Login)
	}
	rep := endpoint.Created("/ca/v1/certificates/"+res.SignSerial, DualJSON{
		SignCertificate: pemCert(res.SignCertificate),
		SignChain:       pemCerts(res.SignChain),
		SignSerial:      res.SignSerial,
		EncCertificate:  pemCert(res.EncCertificate),
		EncChain:        pemCerts(res.EncChain),
		EncSerial:       res.EncSerial,
		CSRResponse:     res.CSRResponse,
		Login:           login,
	})
	if res.Repeated {
		rep.Status = http.StatusOK
	}
	return rep, nil
}

// officer returns the actor name of the authenticated officer.
func officer(r *http.Request) (string, error) {
	p, ok := access.PrincipalFrom(r.Context())
	if !ok || p.Actor() == "" {
		return "", fail(http.StatusUnauthorized, "", nil, "an officer token is required")
	}
	return p.Actor(), nil
}

func (a *API) requestRecovery(r *http.Request, req RecoveryRequestJSON) (*endpoint.Reply, error) {
	who, err := officer(r)
	if err != nil {
		return nil, err
	}
	rec, err := a.k.RequestRecovery(r.Context(), RecoveryRequest{EncSerial: req.EncSerial, Reason: req.Reason, DeliverTo: []byte(req.DeliverTo), RequestedBy: who})
	if err != nil {
		return nil, err
	}
	return endpoint.Created("/ca/v1/kmc/recoveries/"+rec.ID, recoveryJSON(rec, nil)), nil
}

func (a *API) listRecoveries(r *http.Request) (*endpoint.Reply, error) {
	status := Status(r.URL.Query().Get("status"))
	switch status {
	case "", StatusRequested, StatusApproved, StatusDelivered, StatusRejected:
	default:
		return nil, badRequest("status", "%q is not one of requested, approved, delivered, rejected", truncate(string(status), 64))
	}
	recs, err := a.k.Recoveries(r.Context(), status)
	if err != nil {
		return nil, err
	}
	out := make([]RecoveryJSON, 0, len(recs))
	for _, rec := range recs {
		out = append(out, recoveryJSON(rec, nil))
	}
	return endpoint.OK(map[string]any{"recoveries": out}), nil
}

func (a *API) getRecovery(r *http.Request) (*endpoint.Reply, error) {
	rec, err := a.k.Recovery(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	evs, err := a.k.Events(r.Context(), rec.ID)
	if err != nil {
		return nil, err
	}
	return endpoint.OK(recoveryJSON(rec, evs)), nil
}

func (a *API) approve(r *http.Request, _ struct{}) (*endpoint.Reply, error) {
	who, err := officer(r)
	if err != nil {
		return nil, err
	}
	rec, err := a.k.Approve(r.Context(), r.PathValue("id"), who)
	if err != nil {
		return nil, err
	}
	return endpoint.OK(recoveryJSON(rec, nil)), nil
}

func (a *API) reject(r *http.Request, req RejectJSON) (*endpoint.Reply, error) {
	who, err := officer(r)
	if err != nil {
		return nil, err
	}
	rec, err := a.k.Reject(r.Context(), r.PathValue("id"), who, req.Comment)
	if err != nil {
		return nil, err
	}
	return endpoint.OK(recoveryJSON(rec, nil)), nil
}

func (a *API) deliver(r *http.Request, _ struct{}) (*endpoint.Reply, error) {
	who, err := officer(r)
	if err != nil {
		return nil, err
	}
	d, err := a.k.Deliver(r.Context(), r.PathValue("id"), who)
	if err != nil {
		return nil, err
	}
	return endpoint.OK(DeliveryJSON{
		EnvelopedKey:   d.EnvelopedKey,
		EncCertificate: pemCert(d.EncCertificate),
		Recovery:       recoveryJSON(d.Recovery, nil),
	}).NoStore(), nil
}

func recoveryJSON(r *Recovery, evs []*Event) RecoveryJSON {
	return RecoveryJSON{
		Recovery:          r,
		DeliverTo:         string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: r.DeliverTo})),
		RequiredApprovals: RequiredApprovals,
		Events:            evs,
	}
}

func pemCert(c *smx509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func pemCerts(cs []*smx509.Certificate) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, pemCert(c))
	}
	return out
}
