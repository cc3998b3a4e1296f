package access

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tongxing/tongxing/problem"
)

// maxBody bounds the JSON bodies of the officer API.
const maxBody = 4 << 10

// Require wraps next so that only an officer holding role reaches it.
// Missing or unknown tokens get 401; a token of another role 403, both as
// problem+json. Each decision on a valid token (allow or deny) is recorded
// with the [Auditor] first; if it cannot be, the request is refused (503)
// without running next.
func (o *Officers) Require(role string, next http.Handler) http.Handler {
	return o.guard(role, next)
}

// RequireAny is Require for any officer role.
func (o *Officers) RequireAny(next http.Handler) http.Handler { return o.guard("", next) }

func (o *Officers) guard(role string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tongxing"`)
			problem.Write(w, problem.New(http.StatusUnauthorized, "an officer token is required (Authorization: Bearer ...)"))
			return
		}
		p, err := o.Authenticate(r.Context(), strings.TrimSpace(token))
		if errors.Is(err, ErrUnknownToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tongxing", error="invalid_token"`)
			problem.Write(w, problem.New(http.StatusUnauthorized, "unknown, expired or revoked officer token"))
			return
		}
		if err != nil {
			problem.WriteError(w, r, o.log, err)
			return
		}
		p.SourceAddr = r.RemoteAddr
		ev := Event{Actor: p.Actor(), Role: p.Role, SourceAddr: p.SourceAddr, Resource: "http:" + r.Method + " " + r.URL.Path}
		if role != "" && !p.Has(role) {
			ev.Action, ev.Outcome = "access.deny", "failure: role "+role+" required"
			ev.Reasons = []string{fmt.Sprintf("officer %s holds role %s", p.Name, p.Role)}
			if err := o.audit(r.Context(), ev); err != nil {
				problem.Write(w, problem.New(http.StatusServiceUnavailable, "the refusal could not be recorded in the audit log"))
				return
			}
			problem.Write(w, problem.New(http.StatusForbidden, fmt.Sprintf("officer %q holds role %s; this needs role %s", p.Name, p.Role, role)))
			return
		}
		ev.Action, ev.Outcome = "access.allow", "success"
		if err := o.audit(r.Context(), ev); err != nil {
			problem.Write(w, problem.New(http.StatusServiceUnavailable, "the request could not be recorded in the audit log"))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Routes registers the officer API on mux:
//
//	GET  /officers/v1/officers                   every officer (any role)
//	GET  /officers/v1/officers/{name}            one officer (any role)
//	POST /officers/v1/officers/{name}/revoke     revoke, {"comment"} optional (sysadmin)
//	POST /officers/v1/officers/{name}/unbind     unbind the sign-on account (sysadmin)
//	POST /officers/v1/proposals                  propose, a ProposalRequest (sysadmin) -> proposal and proposer_code
//	GET  /officers/v1/proposals?status=          proposals (any role)
//	GET  /officers/v1/proposals/{id}             one proposal (any role)
//	POST /officers/v1/proposals/{id}/approve     approve (an officer of the proposal's role) -> approver_code
//	POST /officers/v1/proposals/{id}/reject      reject, {"comment"} optional (the proposal's role, or its proposer)
//	POST /officers/v1/claim                      {"proposal", "proposer_code", "approver_code", "ttl"} -> the token (no officer token)
//	POST /officers/v1/token                      renew one's own token, {"ttl"} optional (any role)
//	GET  /officers/v1/me                         the officer of the presented token (any role)
//
// Errors are problem+json naming the field at fault.
func (o *Officers) Routes(mux *http.ServeMux) {
	anyRole := func(f func(http.ResponseWriter, *http.Request, *Principal) error) http.Handler {
		return o.RequireAny(o.handle(f))
	}
	sys := func(f func(http.ResponseWriter, *http.Request, *Principal) error) http.Handler {
		return o.Require(RoleSysadmin, o.handle(f))
	}
	mux.Handle("GET /officers/v1/officers", anyRole(o.serveList))
	mux.Handle("GET /officers/v1/officers/{name}", anyRole(o.serveOfficer))
	mux.Handle("POST /officers/v1/officers/{name}/revoke", sys(o.serveRevoke))
	mux.Handle("POST /officers/v1/officers/{name}/unbind", sys(o.serveUnbind))
	mux.Handle("POST /officers/v1/proposals", sys(o.servePropose))
	mux.Handle("GET /officers/v1/proposals", anyRole(o.serveProposals))
	mux.Handle("GET /officers/v1/proposals/{id}", anyRole(o.serveProposal))
	mux.Handle("POST /officers/v1/proposals/{id}/approve", anyRole(o.serveApprove))
	mux.Handle("POST /officers/v1/proposals/{id}/reject", anyRole(o.serveReject))
	mux.Handle("POST /officers/v1/token", anyRole(o.serveRenew))
	mux.Handle("GET /officers/v1/me", anyRole(o.serveMe))
	mux.HandleFunc("POST /officers/v1/claim", func(w http.ResponseWriter, r *http.Request) {
		if err := o.serveClaim(w, r); err != nil {
			o.fail(w, r, err)
		}
	})
}

// handle adapts an officer handler: the principal comes from the guard,
// errors become problem+json.
func (o *Officers) handle(f func(http.ResponseWriter, *http.Request, *Principal) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			problem.Write(w, problem.New(http.StatusUnauthorized, "an officer token is required"))
			return
		}
		if err := f(w, r, p); err != nil {
			o.fail(w, r, err)
		}
	})
}

func (o *Officers) fail(w http.ResponseWriter, r *http.Request, err error) {
	log := o.log
	if log == nil {
		log = slog.Default()
	}
	problem.WriteError(w, r, log, err)
}

// decodeOptional decodes a JSON body into v if there is one.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return problem.DecodeJSON(w, r, maxBody, v)
}

func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, badRequest("ttl", err, "%q is not a duration like 2160h", truncate(s, 32))
	}
	return d, nil
}

// ProposalJSON is a proposal with the claim code shown to whoever made or
// approved it (once).
type ProposalJSON struct {
	Proposal *Proposal `json:"proposal"`
	// ProposerCode and ApproverCode are the two halves needed to claim
	// the officer's token; each is shown only to the officer it was made for.
	ProposerCode string `json:"proposer_code,omitempty"`
	ApproverCode string `json:"approver_code,omitempty"`
}

// ClaimJSON is the body of POST /officers/v1/claim.
type ClaimJSON struct {
	Proposal     string `json:"proposal"`
	ProposerCode string `json:"proposer_code"`
	ApproverCode string `json:"approver_code"`
	TTL          string `json:"ttl,omitempty"`
}

// TokenJSON is an issued token (shown once).
type TokenJSON struct {
	Token     string    `json:"token"`
	Officer   string    `json:"officer"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CommentJSON is the optional body of revoke and reject.
type CommentJSON struct {
	Comment string `json:"comment,omitempty"`
}

// RenewJSON is the optional body of POST /officers/v1/token.
type RenewJSON struct {
	TTL string `json:"ttl,omitempty"`
}

// MeJSON describes the officer of the presented token.
type MeJSON struct {
	Officer        string    `json:"officer"`
	Role           string    `json:"role"`
	TokenExpiresAt time.Time `json:"token_expires_at"`
}

func (o *Officers) serveList(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	offs, err := o.List(r.Context())
	if err != nil {
		return err
	}
	if offs == nil {
		offs = []*Officer{}
	}
	problem.WriteJSON(w, http.StatusOK, map[string]any{"officers": offs})
	return nil
}

func (o *Officers) serveOfficer(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	offs, err := o.List(r.Context())
	if err != nil {
		return err
	}
	for _, off := range offs {
		if off.Name == r.PathValue("name") {
			problem.WriteJSON(w, http.StatusOK, off)
			return nil
		}
	}
	return refuse(http.StatusNotFound, ErrNotFound, "no officer %q", truncate(r.PathValue("name"), 80))
}

func (o *Officers) serveRevoke(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req CommentJSON
	if err := decodeOptional(w, r, &req); err != nil {
		return err
	}
	off, err := o.Revoke(r.Context(), p, r.PathValue("name"), req.Comment)
	if err != nil {
		return err
	}
	problem.WriteJSON(w, http.StatusOK, off)
	return nil
}

func (o *Officers) serveUnbind(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := decodeOptional(w, r, &struct{}{}); err != nil {
		return err
	}
	off, err := o.Unbind(r.Context(), p, r.PathValue("name"))
	if err != nil {
		return err
	}
	problem.WriteJSON(w, http.StatusOK, off)
	return nil
}

func (o *Officers) servePropose(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req ProposalRequest
	if err := problem.DecodeJSON(w, r, maxBody, &req); err != nil {
		return err
	}
	prop, code, err := o.Propose(r.Context(), p, req)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", "/officers/v1/proposals/"+prop.ID)
	problem.WriteJSON(w, http.StatusCreated, ProposalJSON{Proposal: prop, ProposerCode: code})
	return nil
}

func (o *Officers) serveProposals(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	props, err := o.Proposals(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		return err
	}
	if props == nil {
		props = []*Proposal{}
	}
	problem.WriteJSON(w, http.StatusOK, map[string]any{"proposals": props})
	return nil
}

func (o *Officers) serveProposal(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	props, err := o.Proposals(r.Context(), "")
	if err != nil {
		return err
	}
	for _, p := range props {
		if p.ID == r.PathValue("id") {
			problem.WriteJSON(w, http.StatusOK, p)
			return nil
		}
	}
	return refuse(http.StatusNotFound, ErrNotFound, "no proposal %q", truncate(r.PathValue("id"), 80))
}

func (o *Officers) serveApprove(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := decodeOptional(w, r, &struct{}{}); err != nil {
		return err
	}
	prop, code, err := o.Approve(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	problem.WriteJSON(w, http.StatusOK, ProposalJSON{Proposal: prop, ApproverCode: code})
	return nil
}

func (o *Officers) serveReject(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req CommentJSON
	if err := decodeOptional(w, r, &req); err != nil {
		return err
	}
	prop, err := o.Reject(r.Context(), p, r.PathValue("id"), req.Comment)
	if err != nil {
		return err
	}
	problem.WriteJSON(w, http.StatusOK, ProposalJSON{Proposal: prop})
	return nil
}

func (o *Officers) serveClaim(w http.ResponseWriter, r *http.Request) error {
	var req ClaimJSON
	if err := problem.DecodeJSON(w, r, maxBody, &req); err != nil {
		return err
	}
	for field, v := range map[string]string{"proposal": req.Proposal, "proposer_code": req.ProposerCode, "approver_code": req.ApproverCode} {
		if v == "" {
			return badRequest(field, nil, "required")
		}
	}
	ttl, err := parseTTL(req.TTL)
	if err != nil {
		return err
	}
	token, off, err := o.Claim(r.Context(), req.Proposal, req.ProposerCode, req.ApproverCode, ttl, r.RemoteAddr)
	if err != nil {
		return err
	}
	p, err := o.Authenticate(r.Context(), token)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	problem.WriteJSON(w, http.StatusCreated, TokenJSON{Token: token, Officer: off.Name, Role: off.Role, ExpiresAt: p.TokenExpiresAt})
	return nil
}

func (o *Officers) serveRenew(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req RenewJSON
	if err := decodeOptional(w, r, &req); err != nil {
		return err
	}
	ttl, err := parseTTL(req.TTL)
	if err != nil {
		return err
	}
	token, exp, err := o.RenewToken(r.Context(), p, ttl)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	problem.WriteJSON(w, http.StatusCreated, TokenJSON{Token: token, Officer: p.Name, Role: p.Role, ExpiresAt: exp})
	return nil
}

func (o *Officers) serveMe(w http.ResponseWriter, r *http.Request, p *Principal) error {
	problem.WriteJSON(w, http.StatusOK, MeJSON{Officer: p.Name, Role: p.Role, TokenExpiresAt: p.TokenExpiresAt})
	return nil
}
