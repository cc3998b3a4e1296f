package kmc

import (
	"encoding/pem"
	"errors"
	"net/http"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/problem"
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

// Routes registers the KMC endpoints on mux; officer endpoints are wrapped
// by guard with role ra:
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
func (k *Centre) Routes(mux *http.ServeMux, guard ca.Guard) {
	mux.HandleFunc("POST /ca/v1/kmc/dual", k.dual)
	mux.Handle("POST /ca/v1/kmc/recoveries", guard(access.RoleRA, http.HandlerFunc(k.requestRecovery)))
	mux.Handle("GET /ca/v1/kmc/recoveries", guard(access.RoleRA, http.HandlerFunc(k.listRecoveries)))
	mux.Handle("GET /ca/v1/kmc/recoveries/{id}", guard(access.RoleRA, http.HandlerFunc(k.getRecovery)))
	mux.Handle("POST /ca/v1/kmc/recoveries/{id}/approve", guard(access.RoleRA, http.HandlerFunc(k.approve)))
	mux.Handle("POST /ca/v1/kmc/recoveries/{id}/reject", guard(access.RoleRA, http.HandlerFunc(k.reject)))
	mux.Handle("POST /ca/v1/kmc/recoveries/{id}/deliver", guard(access.RoleRA, http.HandlerFunc(k.deliver)))
}

func (k *Centre) fail(w http.ResponseWriter, r *http.Request, err error) {
	problem.WriteError(w, r, k.log, err)
}

func (k *Centre) dual(w http.ResponseWriter, r *http.Request) {
	if err := k.ca.CheckSource(r.Context(), r.RemoteAddr); err != nil {
		k.fail(w, r, err)
		return
	}
	var req DualRequestJSON
	err := problem.DecodeJSON(w, r, maxDualBody, &req)
	if err == nil && req.CSR == "" {
		err = badRequest("csr", "required")
	}
	if err != nil {
		err = errors.Join(err, k.ca.RefusedEnrolment(r.Context(), r.RemoteAddr, "", err))
		k.fail(w, r, err)
		return
	}
	res, err := k.Enrol(r.Context(), DualRequest{CSR: []byte(req.CSR), Code: req.EnrolmentCode, LoginCSR: []byte(req.LoginCSR), Source: r.RemoteAddr})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/ca/v1/certificates/"+res.SignSerial)
	status := http.StatusCreated
	if res.Repeated {
		status = http.StatusOK
	}
	var login *ca.IssuedJSON
	if res.Login != nil {
		login = ca.NewIssuedJSON(res.Login)
	}
	problem.WriteJSON(w, status, DualJSON{
		SignCertificate: pemCert(res.SignCertificate),
		SignChain:       pemCerts(res.SignChain),
		SignSerial:      res.SignSerial,
		EncCertificate:  pemCert(res.EncCertificate),
		EncChain:        pemCerts(res.EncChain),
		EncSerial:       res.EncSerial,
		CSRResponse:     res.CSRResponse,
		Login:           login,
	})
}

// officer returns the actor name of the authenticated officer.
func officer(r *http.Request) (string, error) {
	p, ok := access.PrincipalFrom(r.Context())
	if !ok || p.Actor() == "" {
		return "", fail(http.StatusUnauthorized, "", nil, "an officer token is required")
	}
	return p.Actor(), nil
}

func (k *Centre) requestRecovery(w http.ResponseWriter, r *http.Request) {
	who, err := officer(r)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	var req RecoveryRequestJSON
	if err := problem.DecodeJSON(w, r, maxRecoveryBody, &req); err != nil {
		k.fail(w, r, err)
		return
	}
	rec, err := k.RequestRecovery(r.Context(), RecoveryRequest{EncSerial: req.EncSerial, Reason: req.Reason, DeliverTo: []byte(req.DeliverTo), RequestedBy: who})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/ca/v1/kmc/recoveries/"+rec.ID)
	problem.WriteJSON(w, http.StatusCreated, recoveryJSON(rec, nil))
}

func (k *Centre) listRecoveries(w http.ResponseWriter, r *http.Request) {
	status := Status(r.URL.Query().Get("status"))
	switch status {
	case "", StatusRequested, StatusApproved, StatusDelivered, StatusRejected:
	default:
		k.fail(w, r, badRequest("status", "%q is not one of requested, approved, delivered, rejected", truncate(string(status), 64)))
		return
	}
	recs, err := k.Recoveries(r.Context(), status)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	out := make([]RecoveryJSON, 0, len(recs))
	for _, rec := range recs {
		out = append(out, recoveryJSON(rec, nil))
	}
	problem.WriteJSON(w, http.StatusOK, map[string]any{"recoveries": out})
}

func (k *Centre) getRecovery(w http.ResponseWriter, r *http.Request) {
	rec, err := k.Recovery(r.Context(), r.PathValue("id"))
	if err != nil {
		k.fail(w, r, err)
		return
	}
	evs, err := k.Events(r.Context(), rec.ID)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, recoveryJSON(rec, evs))
}

// decodeOptional decodes a JSON body into v if there is one.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return problem.DecodeJSON(w, r, maxSmallBody, v)
}

func (k *Centre) approve(w http.ResponseWriter, r *http.Request) {
	who, err := officer(r)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	if err := decodeOptional(w, r, &struct{}{}); err != nil {
		k.fail(w, r, err)
		return
	}
	rec, err := k.Approve(r.Context(), r.PathValue("id"), who)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, recoveryJSON(rec, nil))
}

func (k *Centre) reject(w http.ResponseWriter, r *http.Request) {
	who, err := officer(r)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	var req RejectJSON
	if err := decodeOptional(w, r, &req); err != nil {
		k.fail(w, r, err)
		return
	}
	rec, err := k.Reject(r.Context(), r.PathValue("id"), who, req.Comment)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, recoveryJSON(rec, nil))
}

func (k *Centre) deliver(w http.ResponseWriter, r *http.Request) {
	who, err := officer(r)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	if err := decodeOptional(w, r, &struct{}{}); err != nil {
		k.fail(w, r, err)
		return
	}
	d, err := k.Deliver(r.Context(), r.PathValue("id"), who)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	problem.WriteJSON(w, http.StatusOK, DeliveryJSON{
		EnvelopedKey:   d.EnvelopedKey,
		EncCertificate: pemCert(d.EncCertificate),
		Recovery:       recoveryJSON(d.Recovery, nil),
	})
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
