package ca

import (
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/endpoint"
	"github.com/tongxing/tongxing/problem"
)

// Guard restricts a handler to officers holding role; [access.Officers.Require]
// is one.
type Guard func(role string, next http.Handler) http.Handler

// API serves /ca/v1/... for an [Authority].
type API struct {
	ca    *Authority
	guard Guard
	log   *slog.Logger
	opts  *endpoint.Options
}

// NewAPI returns the HTTP API of a. Officer endpoints are wrapped by guard.
func NewAPI(a *Authority, guard Guard, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	return &API{ca: a, guard: guard, log: log, opts: &endpoint.Options{Log: log}}
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
	ra := func(next http.Handler) http.Handler { return h.guard(access.RoleRA, next) }
	mux.Handle("POST /ca/v1/certificates", SubscriberEndpoint(h.ca, h.log, maxJSONBody, h.enrol))
	status, record := endpoint.Call(h.opts, h.certificateStatus), ra(endpoint.Call(h.opts, h.certificate))
	mux.Handle("GET /ca/v1/certificates/{serial}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			status.ServeHTTP(w, r)
			return
		}
		record.ServeHTTP(w, r)
	}))
	mux.Handle("GET /ca/v1/certificates", ra(endpoint.Call(h.opts, h.list)))
	mux.Handle("POST /ca/v1/enrolment-codes", ra(endpoint.JSON(h.opts, maxCodeBody, h.createCode)))
	mux.Handle("POST /ca/v1/certificates/{serial}/revoke", ra(endpoint.OptionalJSON(h.opts, maxStatusBody, h.setStatus(StatusRevoked))))
	mux.Handle("POST /ca/v1/certificates/{serial}/hold", ra(endpoint.OptionalJSON(h.opts, maxStatusBody, h.setStatus(StatusHold))))
	mux.Handle("POST /ca/v1/certificates/{serial}/release", ra(endpoint.OptionalJSON(h.opts, maxStatusBody, h.setStatus(StatusValid))))
	mux.Handle("GET /ca/v1/certificates/{serial}/events", ra(endpoint.Call(h.opts, h.events)))
	mux.Handle("GET /ca/v1/cas", endpoint.Call(h.opts, h.cas))
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
	mux.Handle("GET /ca/v1/crl/{name}", endpoint.Call(h.opts, h.crl))
	mux.Handle("GET /ca/v1/cas/{name}", endpoint.Call(h.opts, h.caCert))
}

// SubscriberEndpoint serves a call that subscribers make with an enrolment
// code (POST /ca/v1/certificates, the KMC's dual enrolment): a source over
// its refusal budget gets 429 before its request is read
// ([Authority.CheckSource]), and a body that cannot be read, decoded or
// validated counts as a refused enrolment ([Authority.RefusedEnrolment]).
// Refusals of the call itself are a's to count.
func SubscriberEndpoint[In any](a *Authority, log *slog.Logger, limit int64, f endpoint.Func[In]) http.Handler {
	o := &endpoint.Options{Log: log, BadBody: func(r *http.Request, err error) error {
		return errors.Join(err, a.RefusedEnrolment(r.Context(), r.RemoteAddr, "", err))
	}}
	next := endpoint.JSON(o, limit, f)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.CheckSource(r.Context(), r.RemoteAddr); err != nil {
			problem.WriteError(w, r, log, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Body limits of the CA API.
const (
	// maxJSONBody bounds an enrolment: two CSRs of at most MaxCSRSize.
	maxJSONBody = 2*MaxCSRSize + 4<<10
	// maxCodeBody bounds POST /ca/v1/enrolment-codes.
	maxCodeBody = 16 << 10
	// maxStatusBody bounds revoke, hold and release.
	maxStatusBody = 4 << 10
)

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

// Validate requires the CSR.
func (e EnrolRequestJSON) Validate() error {
	if e.CSR == "" {
		return badField("csr", nil, "required")
	}
	return nil
}

func (h *API) enrol(r *http.Request, req EnrolRequestJSON) (*endpoint.Reply, error) {
	issued, err := h.ca.Enrol(r.Context(), EnrolRequest{CSR: []byte(req.CSR), Profile: req.Profile, Code: req.EnrolmentCode,
		LoginCSR: []byte(req.LoginCSR), Source: r.RemoteAddr})
	if err != nil {
		return nil, err
	}
	out := NewIssuedJSON(issued)
	if issued.Repeated {
		return endpoint.OK(out).With("Location", "/ca/v1/certificates/"+out.Serial), nil
	}
	return endpoint.Created("/ca/v1/certificates/"+out.Serial, out), nil
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

func (h *API) certificateStatus(r *http.Request) (*endpoint.Reply, error) {
	rec, err := h.record(r)
	if err != nil {
		return nil, err
	}
	return endpoint.OK(StatusJSON{Serial: rec.Serial, Status: rec.Status, RevokedAt: rec.RevokedAt, Reason: rec.Reason}).NoStore(), nil
}

func (h *API) certificate(r *http.Request) (*endpoint.Reply, error) {
	rec, err := h.record(r)
	if err != nil {
		return nil, err
	}
	return endpoint.OK(RecordJSON{Record: rec, Certificate: string(pemCert(rec.DER))}), nil
}

// record reads the certificate of the path's serial.
func (h *API) record(r *http.Request) (*Record, error) {
	serial, err := ParseSerial(r.PathValue("serial"))
	if err != nil {
		return nil, err
	}
	return h.ca.inv.Certificate(r.Context(), serial)
}

func (h *API) list(r *http.Request) (*endpoint.Reply, error) {
	q := r.URL.Query()
	f := Filter{Profile: q.Get("profile"), Subject: q.Get("subject"), Status: Status(q.Get("status")), After: q.Get("after")}
	switch f.Status {
	case "", StatusValid, StatusRevoked, StatusHold:
	default:
		return nil, badField("status", nil, "%q is not one of valid, revoked, hold", f.Status)
	}
	if f.Profile != "" {
		if _, err := h.ca.Profile(f.Profile); err != nil {
			return nil, err
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return nil, badField("limit", nil, "must be an integer from 1 to 1000")
		}
		f.Limit = n
	}
	if len(f.Subject) > 256 {
		return nil, badField("subject", nil, "at most 256 characters")
	}
	recs, err := h.ca.inv.Certificates(r.Context(), f)
	if err != nil {
		return nil, err
	}
	if recs == nil {
		recs = []*Record{}
	}
	return endpoint.OK(map[string]any{"certificates": recs}), nil
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

func (h *API) createCode(r *http.Request, req CodeRequestJSON) (*endpoint.Reply, error) {
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			return nil, badField("ttl", err, "%q is not a duration like 72h", req.TTL)
		}
		ttl = d
	}
	p, _ := access.PrincipalFrom(r.Context())
	code, c, err := h.ca.CreateCode(r.Context(), NewCodeRequest{Profile: req.Profile, Subject: req.Subject, TTL: ttl, CreatedBy: p.Actor(), HardwareKey: req.HardwareKey, Source: r.RemoteAddr})
	if err != nil {
		return nil, err
	}
	return endpoint.Created("", CodeJSON{Code: code, ID: c.ID, Profile: c.Profile, ExpiresAt: c.ExpiresAt, HardwareKey: c.HardwareKey}), nil
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

func (h *API) cas(*http.Request) (*endpoint.Reply, error) {
	var out []IssuerJSON
	for _, c := range h.ca.CAs() {
		out = append(out, IssuerJSON{Name: c.Name, Suite: string(c.Suite), Root: c.Root, Parent: c.Parent, Subject: c.Cert.Subject.String(), NotAfter: c.Cert.NotAfter, Certificate: string(pemCert(c.Cert.Raw))})
	}
	return endpoint.OK(map[string]any{"cas": out}), nil
}

func (h *API) caCert(r *http.Request) (*endpoint.Reply, error) {
	name := r.PathValue("name")
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i:]
	}
	c, err := h.ca.CA(base)
	if err != nil || (ext != ".crt" && ext != ".pem" && ext != ".der") {
		return nil, notFound("no CA certificate %s (try /ca/v1/cas for the list)", name)
	}
	body, ct := c.Cert.Raw, "application/pkix-cert"
	if ext == ".pem" {
		body, ct = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}), "application/x-pem-file"
	}
	return raw(ct, body).With("Cache-Control", "public, max-age=3600"), nil
}

// raw is a reply of body as it is, of content type ct.
func raw(ct string, body []byte) *endpoint.Reply {
	rep := &endpoint.Reply{Write: func(w io.Writer) error {
		_, err := w.Write(body)
		return err
	}}
	return rep.With("Content-Type", ct)
}

// StatusRequestJSON is the body of the revoke, hold and release endpoints.
type StatusRequestJSON struct {
	Reason  string `json:"reason,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// setStatus serves revoke, hold and release. A change that was made but
// whose CRL could not be regenerated is answered (and logged): the status
// is what the client asked for.
func (h *API) setStatus(to Status) endpoint.Func[StatusRequestJSON] {
	return func(r *http.Request, req StatusRequestJSON) (*endpoint.Reply, error) {
		ch := StatusChange{Serial: r.PathValue("serial"), To: to, Comment: req.Comment}
		if to == StatusRevoked {
			if req.Reason == "" {
				req.Reason = "unspecified"
			}
			reason, err := ParseReason(req.Reason)
			if err != nil {
				return nil, err
			}
			ch.Reason = reason
		}
		p, _ := access.PrincipalFrom(r.Context())
		ch.Actor = p.Actor()
		rec, err := h.ca.SetStatus(r.Context(), ch)
		if err != nil && rec == nil {
			return nil, err
		}
		if err != nil {
			h.log.ErrorContext(r.Context(), "status changed but CRL not regenerated", "serial", rec.Serial, "err", err)
		}
		return endpoint.OK(RecordJSON{Record: rec, Certificate: string(pemCert(rec.DER))}), nil
	}
}

func (h *API) events(r *http.Request) (*endpoint.Reply, error) {
	evs, err := h.ca.Events(r.Context(), r.PathValue("serial"))
	if err != nil {
		return nil, err
	}
	return endpoint.OK(map[string]any{"events": evs}), nil
}

func (h *API) crl(r *http.Request) (*endpoint.Reply, error) {
	name, ok := strings.CutSuffix(r.PathValue("name"), ".crl")
	if !ok {
		return nil, notFound("CRLs are at /ca/v1/crl/ISSUER.crl")
	}
	c, err := h.ca.CurrentCRL(r.Context(), name)
	if err != nil {
		return nil, err
	}
	rep := raw("application/pkix-crl", c.DER)
	rep.With("Last-Modified", c.ThisUpdate.Format(http.TimeFormat))
	rep.With("Expires", c.NextUpdate.Format(http.TimeFormat))
	return rep.With("Cache-Control", "public, max-age=60"), nil
}
