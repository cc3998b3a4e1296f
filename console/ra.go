package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/ca"
)

func (c *Console) raRoutes(h func(string, http.HandlerFunc)) {
	ra := func(f guarded) http.HandlerFunc { return c.need(access.RoleRA, f) }
	h("GET /ra", ra(c.raSearch))
	h("GET /ra/certificates/{serial}", ra(c.raCertificate))
	h("POST /ra/certificates/{serial}/status", ra(c.raSetStatus))
	h("GET /ra/codes", ra(c.raCodes))
	h("POST /ra/codes", ra(c.raCreateCode))
}

// raSearch looks certificates up by subject, profile and status.
func (c *Console) raSearch(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f := ca.Filter{Subject: truncate(strings.TrimSpace(q.Get("subject")), 200), Profile: truncate(q.Get("profile"), 64),
		Status: ca.Status(truncate(q.Get("status"), 16)), Limit: 100}
	p := c.page(s, "console.ra.title", "/ra")
	data := map[string]any{"Subject": f.Subject, "Profile": f.Profile, "Status": string(f.Status)}
	p.Data = data
	if serial := strings.ToLower(strings.TrimSpace(q.Get("serial"))); serial != "" {
		http.Redirect(w, r, c.prefix+"/ra/certificates/"+truncate(serial, 64), http.StatusSeeOther)
		return
	}
	recs, err := c.d.CA.Certificates(r.Context(), f)
	if err != nil {
		var re *ca.RequestError
		if errors.As(err, &re) {
			p.Error = err.Error()
			c.render(w, r, http.StatusBadRequest, "ra", p)
			return
		}
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	data["Records"] = recs
	c.render(w, r, http.StatusOK, "ra", p)
}

// raCertificate shows one certificate with the forms to revoke, hold and
// release it.
func (c *Console) raCertificate(w http.ResponseWriter, r *http.Request, s *session) {
	rec, err := c.d.CA.Certificate(r.Context(), r.PathValue("serial"))
	if err != nil {
		c.caFailure(w, r, s, err)
		return
	}
	p := c.page(s, "console.cert.title", "/ra")
	if r.URL.Query().Get("done") != "" {
		p.Flash = "console.cert.changed"
	}
	p.Data = map[string]any{"R": rec, "Reasons": revocationReasons}
	c.render(w, r, http.StatusOK, "certificate", p)
}

// revocationReasons offered on the form (RFC 5280 §5.3.1).
var revocationReasons = []string{"unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation"}

// raSetStatus revokes, holds or releases a certificate, after a fresh
// sign-in.
func (c *Console) raSetStatus(w http.ResponseWriter, r *http.Request, s *session) {
	serial := r.PathValue("serial")
	back := c.prefix + "/ra/certificates/" + serial
	form, err := c.csrf.Check(w, r, s.ID)
	if err != nil {
		c.fail(w, r, s, http.StatusForbidden, "web.csrf", nil)
		return
	}
	if !c.isFresh(w, r, s, back) {
		return
	}
	ch := ca.StatusChange{Serial: serial, Actor: "officer:" + s.Officer, Comment: truncate(form.Get("comment"), 512)}
	switch form.Get("to") {
	case "revoked":
		ch.To = ca.StatusRevoked
		reason, err := ca.ParseReason(form.Get("reason"))
		if err != nil {
			c.fail(w, r, s, http.StatusBadRequest, err.Error(), nil)
			return
		}
		ch.Reason = reason
	case "hold":
		ch.To = ca.StatusHold
	case "valid":
		ch.To = ca.StatusValid
	default:
		c.fail(w, r, s, http.StatusBadRequest, "console.err.status", nil)
		return
	}
	ctx := access.WithPrincipal(r.Context(), s.principal(r))
	rec, err := c.d.CA.SetStatus(ctx, ch)
	if err != nil && rec == nil {
		c.caFailure(w, r, s, err)
		return
	}
	if err != nil {
		c.d.Logger.ErrorContext(ctx, "status changed but CRL not regenerated", "serial", rec.Serial, "err", err)
	}
	http.Redirect(w, r, back+"?done=1", http.StatusSeeOther)
}

// caFailure shows a CA refusal with its message, anything else as 500.
func (c *Console) caFailure(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var he interface{ HTTPStatus() int }
	if errors.As(err, &he) && he.HTTPStatus() < 500 {
		c.fail(w, r, s, he.HTTPStatus(), err.Error(), nil)
		return
	}
	c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
}

// codeProfiles are the profiles a registration officer issues codes for.
var codeProfiles = []string{"citizen", "enterprise-sign", "service"}

func (c *Console) raCodes(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.page(s, "console.codes.title", "/ra/codes")
	p.Data = map[string]any{"Profiles": codeProfiles, "Departments": c.departments(langOf(r))}
	c.render(w, r, http.StatusOK, "codes", p)
}

// raCreateCode makes an enrolment code and shows it once.
func (c *Console) raCreateCode(w http.ResponseWriter, r *http.Request, s *session) {
	form, err := c.csrf.Check(w, r, s.ID)
	if err != nil {
		c.fail(w, r, s, http.StatusForbidden, "web.csrf", nil)
		return
	}
	get := func(k string) string { return truncate(strings.TrimSpace(form.Get(k)), 256) }
	req := ca.NewCodeRequest{Profile: get("profile"), CreatedBy: "officer:" + s.Officer, Source: r.RemoteAddr,
		HardwareKey: form.Get("hardware_key") == "on",
		Subject: ca.Subject{Name: get("name"), IDNumber: get("id_number"), Organization: get("organization"), USCC: get("uscc"),
			Department: get("department"), Service: get("service")}}
	for _, n := range strings.Fields(get("dns_names")) {
		req.Subject.DNSNames = append(req.Subject.DNSNames, n)
	}
	if d, err := time.ParseDuration(get("ttl")); err == nil {
		req.TTL = d
	}
	ctx := access.WithPrincipal(r.Context(), s.principal(r))
	code, stored, err := c.d.CA.CreateCode(ctx, req)
	p := c.page(s, "console.codes.title", "/ra/codes")
	data := map[string]any{"Profiles": codeProfiles, "Departments": c.departments(langOf(r))}
	p.Data = data
	if err != nil {
		var he interface{ HTTPStatus() int }
		if errors.As(err, &he) && he.HTTPStatus() < 500 {
			p.Error = err.Error()
			c.render(w, r, he.HTTPStatus(), "codes", p)
			return
		}
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	data["Code"], data["Stored"] = code, stored
	c.render(w, r, http.StatusCreated, "codes", p)
}
