package ca

import (
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/problem"
)

// Guard restricts a handler to officers holding role; [access.Tokens.Require]
// is one.
type Guard func(role string, next http.Handler) http.Handler

// API serves /ca/v1/... for an [Authority].
type API struct {
	ca    *Authority
	guard Guard
	log   *slog.Logger
}

// NewAPI returns the HTTP API of a. Officer endpoints are wrapped by guard.
func NewAPI(a *Authority, guard Guard, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	return &API{ca: a, guard: guard, log: log}
}

// Routes registers the CA endpoints on mux:
//
//	POST /ca/v1/certificates            enrol with a CSR and an enrolment code (public); 201, or 200 when
//	                                    the same code and key ask again (the same certificate)
//	GET  /ca/v1/certificates/{serial}   one certificate's status (public); with an officer token of
//	                                    role ra, the whole record and the certificate
//	GET  /ca/v1/certificates            inventory search (role ra)
//	POST /ca/v1/enrolment-codes         create an enrolment code (role ra)
//	POST /ca/v1/certificates/{serial}/revoke   {"reason": "keyCompromise", "comment": "..."} (role ra)
//	POST /ca/v1/certificates/{serial}/hold     suspend (role ra)
//	POST /ca/v1/certificates/{serial}/release  end a suspension (role ra)
//	GET  /ca/v1/certificates/{serial}/events   status history (role ra)
//	GET  /ca/v1/crl/{issuer}.crl        the issuing CA's CRL (DER, application/pkix-crl)
//	GET  /ca/v1/cas                     the CA certificates
//	GET  /ca/v1/cas/{name}              one CA certificate: NAME.crt is DER, NAME.pem is PEM
func (h *API) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /ca/v1/certificates", h.enrol)
	mux.HandleFunc("GET /ca/v1/certificates/{serial}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			h.certificateStatus(w, r)
			return
		}
		h.guard(access.RoleRA, http.HandlerFunc(h.certificate)).ServeHTTP(w, r)
	})
	mux.Handle("GET /ca/v1/certificates", h.guard(access.RoleRA, http.HandlerFunc(h.list)))
	mux.Handle("POST /ca/v1/enrolment-codes", h.guard(access.RoleRA, http.HandlerFunc(h.createCode)))
	mux.Handle("POST /ca/v1/certificates/{serial}/revoke", h.guard(access.RoleRA, h.statusHandler(StatusRevoked)))
	mux.Handle("POST /ca/v1/certificates/{serial}/hold", h.guard(access.RoleRA, h.statusHandler(StatusHold)))
	mux.Handle("POST /ca/v1/certificates/{serial}/release", h.guard(access.RoleRA, h.statusHandler(StatusValid)))
	mux.Handle("GET /ca/v1/certificates/{serial}/events", h.guard(access.RoleRA, http.HandlerFunc(h.events)))
	mux.HandleFunc("GET /ca/v1/cas", h.cas)
	h.RepositoryRoutes(mux)
}

// RepositoryRoutes registers only the public repository of signed objects:
//
//	GET /ca/v1/crl/{issuer}.crl   the issuing CA's CRL
//	GET /ca/v1/cas/{name}         one CA certificate (.crt DER, .pem PEM)
//
// These need no TLS; the server also serves them, with OCSP, on its plain
// HTTP listener.
func (h *API) RepositoryRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /ca/v1/crl/{name}", h.crl)
	mux.HandleFunc("GET /ca/v1/cas/{name}", h.caCert)
}

// maxJSONBody bounds JSON request bodies: two CSRs of at most MaxCSRSize.
const maxJSONBody = 2*MaxCSRSize + 4<<10

// EnrolRequestJSON is the body of POST /ca/v1/certificates.
type EnrolRequestJSON struct {
	CSR           string `json:"csr"`
	Profile       string `json:"profile,omitempty"`
	EnrolmentCode string `json:"enrolment_code"`
	// LoginCSR optionally asks for the profile's login certificate too
	// (ECDSA P-256 CSR, PEM).
	LoginCSR string `json:"login_csr,omitempty"`
}

// IssuedJSON is the response to a successful enrolment.
type IssuedJSON struct {
	Certificate string   `json:"certificate"`
	Chain       []string `json:"chain"`
	Serial      string   `json:"serial"`
	// Login is the login certificate when login_csr was given.
	Login *IssuedJSON `json:"login,omitempty"`
}

// NewIssuedJSON returns the JSON form of an enrolment's certificates.
func NewIssuedJSON(iss *Issued) *IssuedJSON {
	out := &IssuedJSON{Certificate: string(pemCert(iss.Certificate.Raw)), Serial: iss.Record.Serial, Chain: []string{}}
	for _, c := range iss.Chain {
		out.Chain = append(out.Chain, string(pemCert(c.Raw)))
	}
	if iss.Login != nil {
		out.Login = NewIssuedJSON(iss.Login)
	}
	return out
}

func (h *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	problem.WriteError(w, r, h.log, err)
}

func (h *API) enrol(w http.ResponseWriter, r *http.Request) {
	if err := h.ca.CheckSource(r.Context(), r.RemoteAddr); err != nil {
		h.fail(w, r, err)
		return
	}
	var req EnrolRequestJSON
	err := problem.DecodeJSON(w, r, maxJSONBody, &req)
	if err == nil && req.CSR == "" {
		err = badField("csr", nil, "required")
	}
	if err != nil {
		err = errors.Join(err, h.ca.RefusedEnrolment(r.Context(), r.RemoteAddr, "", err))
		h.fail(w, r, err)
		return
	}
	issued, err := h.ca.Enrol(r.Context(), EnrolRequest{CSR: []byte(req.CSR), Profile: req.Profile, Code: req.EnrolmentCode,
		LoginCSR: []byte(req.LoginCSR), Source: r.RemoteAddr})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := NewIssuedJSON(issued)
	w.Header().Set("Location", "/ca/v1/certificates/"+out.Serial)
	status := http.StatusCreated
	if issued.Repeated {
		status = http.StatusOK
	}
	problem.WriteJSON(w, status, out)
}

// RecordJSON is a certificate in API responses.
type RecordJSON struct {
	*Record
	Certificate string `json:"certificate"`
}

// StatusJSON is what GET /ca/v1/certificates/{serial} shows without an
// officer token: the status, nothing about the subject.
type StatusJSON struct {
	Serial    string    `json:"serial"`
	Status    Status    `json:"status"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Reason    *Reason   `json:"revocation_reason,omitempty"`
}

func (h *API) certificateStatus(w http.ResponseWriter, r *http.Request) {
	serial, err := ParseSerial(r.PathValue("serial"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rec, err := h.ca.inv.Certificate(r.Context(), serial)
	if errors.Is(err, ErrNotFound) {
		problem.Write(w, problem.New(http.StatusNotFound, "no certificate with serial "+serial))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	problem.WriteJSON(w, http.StatusOK, StatusJSON{Serial: rec.Serial, Status: rec.Status, RevokedAt: rec.RevokedAt, Reason: rec.Reason})
}

func (h *API) certificate(w http.ResponseWriter, r *http.Request) {
	serial, err := ParseSerial(r.PathValue("serial"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rec, err := h.ca.inv.Certificate(r.Context(), serial)
	if errors.Is(err, ErrNotFound) {
		problem.Write(w, problem.New(http.StatusNotFound, "no certificate with serial "+serial))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, RecordJSON{Record: rec, Certificate: string(pemCert(rec.DER))})
}

func (h *API) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := Filter{Profile: q.Get("profile"), Subject: q.Get("subject"), Status: Status(q.Get("status")), After: q.Get("after")}
	switch f.Status {
	case "", StatusValid, StatusRevoked, StatusHold:
	default:
		h.fail(w, r, badField("status", nil, "%q is not one of valid, revoked, hold", f.Status))
		return
	}
	if f.Profile != "" {
		if _, err := h.ca.Profile(f.Profile); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			h.fail(w, r, badField("limit", nil, "must be an integer from 1 to 1000"))
			return
		}
		f.Limit = n
	}
	if len(f.Subject) > 256 {
		h.fail(w, r, badField("subject", nil, "at most 256 characters"))
		return
	}
	recs, err := h.ca.inv.Certificates(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if recs == nil {
		recs = []*Record{}
	}
	problem.WriteJSON(w, http.StatusOK, map[string]any{"certificates": recs})
}

// CodeRequestJSON is the body of POST /ca/v1/enrolment-codes.
type CodeRequestJSON struct {
	Profile string  `json:"profile"`
	Subject Subject `json:"subject"`
	TTL     string  `json:"ttl,omitempty"` // Go duration, e.g. "72h"
	// HardwareKey: the officer vetted that the subscriber's key is held in
	// hardware (the certificate then carries the hardware key-storage
	// policy).
	HardwareKey bool `json:"hardware_key,omitempty"`
}

// CodeJSON is a created enrolment code.
type CodeJSON struct {
	Code        string    `json:"code"`
	ID          string    `json:"id"`
	Profile     string    `json:"profile"`
	ExpiresAt   time.Time `json:"expires_at"`
	HardwareKey bool      `json:"hardware_key,omitempty"`
}

func (h *API) createCode(w http.ResponseWriter, r *http.Request) {
	var req CodeRequestJSON
	if err := problem.DecodeJSON(w, r, 16<<10, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			h.fail(w, r, badField("ttl", err, "%q is not a duration like 72h", req.TTL))
			return
		}
		ttl = d
	}
	p, _ := access.PrincipalFrom(r.Context())
	code, c, err := h.ca.CreateCode(r.Context(), NewCodeRequest{Profile: req.Profile, Subject: req.Subject, TTL: ttl, CreatedBy: p.Actor(), HardwareKey: req.HardwareKey, Source: r.RemoteAddr})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusCreated, CodeJSON{Code: code, ID: c.ID, Profile: c.Profile, ExpiresAt: c.ExpiresAt, HardwareKey: c.HardwareKey})
}

// IssuerJSON describes a CA in GET /ca/v1/cas.
type IssuerJSON struct {
	Name        string    `json:"name"`
	Suite       string    `json:"suite"`
	Root        bool      `json:"root"`
	Parent      string    `json:"parent,omitempty"`
	Subject     string    `json:"subject"`
	NotAfter    time.Time `json:"not_after"`
	Certificate string    `json:"certificate"`
}

func (h *API) cas(w http.ResponseWriter, r *http.Request) {
	var out []IssuerJSON
	for _, c := range h.ca.CAs() {
		out = append(out, IssuerJSON{Name: c.Name, Suite: string(c.Suite), Root: c.Root, Parent: c.Parent, Subject: c.Cert.Subject.String(), NotAfter: c.Cert.NotAfter, Certificate: string(pemCert(c.Cert.Raw))})
	}
	problem.WriteJSON(w, http.StatusOK, map[string]any{"cas": out})
}

func (h *API) caCert(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i:]
	}
	c, err := h.ca.CA(base)
	if err != nil || (ext != ".crt" && ext != ".pem" && ext != ".der") {
		problem.Write(w, problem.New(http.StatusNotFound, "no CA certificate "+name+" (try /ca/v1/cas for the list)"))
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	if ext == ".pem" {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}))
		return
	}
	w.Header().Set("Content-Type", "application/pkix-cert")
	w.Write(c.Cert.Raw)
}

// StatusRequestJSON is the body of the revoke, hold and release endpoints.
type StatusRequestJSON struct {
	Reason  string `json:"reason,omitempty"`
	Comment string `json:"comment,omitempty"`
}

func (h *API) statusHandler(to Status) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req StatusRequestJSON
		if r.ContentLength != 0 {
			if err := problem.DecodeJSON(w, r, 4<<10, &req); err != nil {
				h.fail(w, r, err)
				return
			}
		}
		ch := StatusChange{Serial: r.PathValue("serial"), To: to, Comment: req.Comment}
		if to == StatusRevoked {
			if req.Reason == "" {
				req.Reason = "unspecified"
			}
			reason, err := ParseReason(req.Reason)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			ch.Reason = reason
		}
		p, _ := access.PrincipalFrom(r.Context())
		ch.Actor = p.Actor()
		rec, err := h.ca.SetStatus(r.Context(), ch)
		if errors.Is(err, ErrNotFound) {
			problem.Write(w, problem.New(http.StatusNotFound, "no certificate with serial "+r.PathValue("serial")))
			return
		}
		if err != nil && rec == nil {
			h.fail(w, r, err)
			return
		}
		if err != nil {
			h.log.ErrorContext(r.Context(), "status changed but CRL not regenerated", "serial", rec.Serial, "err", err)
		}
		problem.WriteJSON(w, http.StatusOK, RecordJSON{Record: rec, Certificate: string(pemCert(rec.DER))})
	})
}

func (h *API) events(w http.ResponseWriter, r *http.Request) {
	evs, err := h.ca.Events(r.Context(), r.PathValue("serial"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, map[string]any{"events": evs})
}

func (h *API) crl(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("name"), ".crl")
	if !ok {
		problem.Write(w, problem.New(http.StatusNotFound, "CRLs are at /ca/v1/crl/ISSUER.crl"))
		return
	}
	c, err := h.ca.CurrentCRL(r.Context(), name)
	if errors.Is(err, ErrNotFound) {
		problem.Write(w, problem.New(http.StatusNotFound, "no CRL for "+name))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("Last-Modified", c.ThisUpdate.Format(http.TimeFormat))
	w.Header().Set("Expires", c.NextUpdate.Format(http.TimeFormat))
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Write(c.DER)
}
