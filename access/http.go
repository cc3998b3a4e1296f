package access

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tongxing/tongxing/endpoint"
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
	opts := &endpoint.Options{Log: o.log}
	sys := func(next http.Handler) http.Handler { return o.Require(RoleSysadmin, next) }
	anyRole := o.RequireAny
	mux.Handle("GET /officers/v1/officers", anyRole(endpoint.Call(opts, o.serveList)))
	mux.Handle("GET /officers/v1/officers/{name}", anyRole(endpoint.Call(opts, o.serveOfficer)))
	mux.Handle("POST /officers/v1/officers/{name}/revoke", sys(endpoint.OptionalJSON(opts, maxBody, o.serveRevoke)))
	mux.Handle("POST /officers/v1/officers/{name}/unbind", sys(endpoint.OptionalJSON(opts, maxBody, o.serveUnbind)))
	mux.Handle("POST /officers/v1/proposals", sys(endpoint.JSON(opts, maxBody, o.servePropose)))
	mux.Handle("GET /officers/v1/proposals", anyRole(endpoint.Call(opts, o.serveProposals)))
	mux.Handle("GET /officers/v1/proposals/{id}", anyRole(endpoint.Call(opts, o.serveProposal)))
	mux.Handle("POST /officers/v1/proposals/{id}/approve", anyRole(endpoint.OptionalJSON(opts, maxBody, o.serveApprove)))
	mux.Handle("POST /officers/v1/proposals/{id}/reject", anyRole(endpoint.OptionalJSON(opts, maxBody, o.serveReject)))
	mux.Handle("POST /officers/v1/token", anyRole(endpoint.OptionalJSON(opts, maxBody, o.serveRenew)))
	mux.Handle("GET /officers/v1/me", anyRole(endpoint.Call(opts, o.serveMe)))
	mux.Handle("POST /officers/v1/claim", endpoint.JSON(opts, maxBody, o.serveClaim))
}

// PrincipalOf returns the officer the guard ([Officers.Require])
// authenticated for r, or a 401 [*Error] when there is none (a route
// mounted without the guard).
func PrincipalOf(r *http.Request) (*Principal, error) {
	p, ok := PrincipalFrom(r.Context())
	if !ok {
		return nil, refuse(http.StatusUnauthorized, ErrUnknownToken, "an officer token is required")
	}
	return p, nil
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

func (o *Officers) serveList(r *http.Request) (*endpoint.Reply, error) {
	offs, err := o.List(r.Context())
	if err != nil {
		return nil, err
	}
	if offs == nil {
		offs = []*Officer{}
	}
	return endpoint.OK(map[string]any{"officers": offs}), nil
}

func (o *Officers) serveOfficer(r *http.Request) (*endpoint.Reply, error) {
	offs, err := o.List(r.Context())
	if err != nil {
		return nil, err
	}
	for _, off := range offs {
		if off.Name == r.PathValue("name") {
			return endpoint.OK(off), nil
		}
	}
	return nil, notFound("no officer %q", truncate(r.PathValue("name"), 80))
}

func (o *Officers) serveRevoke(r *http.Request, req CommentJSON) (*endpoint.Reply, error) {
	p, err := PrincipalOf(r)
	if err != nil {
		return nil, err
	}
	off, err := o.Revoke(r.Context(), p, r.PathValue("name"), req.Comment)
	if err != nil {
		return nil, err
	}
	return endpoint.OK(off), nil
}

func (o *Officers) serveUnbind(r *http.Request, _ struct{}) (*endpoint.Reply, error) {
	p, err := PrincipalOf(r)
	if err != nil {
		return nil, err
	}
	off, err := o.Unbind(r.Context(), p, r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return endpoint.OK(off), nil
}

func (o *Officers) servePropose(r *http.Request, req ProposalRequest) (*endpoint.Reply, error) {
	p, err := PrincipalOf(r)
	if err != nil {
		return nil, err
	}
	prop, code, err := o.Propose(r.Context(), p, req)
	if err != nil {
		return nil, err
	}
	return endpoint.Created("/officers/v1/proposals/"+prop.ID, ProposalJSON{Proposal: prop, ProposerCode: code}).NoStore(), nil
}

func (o *Officers) serveProposals(r *http.Request) (*endpoint.Reply, error) {
	props, err := o.Proposals(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		return nil, err
	}
	if props == nil {
		props = []*Proposal{}
	}
	return endpoint.OK(map[string]any{"proposals": props}), nil
}

func (o *Officers) serveProposal(r *http.Request) (*endpoint.Reply, error) {
	props, err := o.Proposals(r.Context(), "")
	if err != nil {
		return nil, err
	}
	for _, p := range props {
		if p.ID == r.PathValue("id") {
			return endpoint.OK(p), nil
		}
	}
	return nil, notFound("no proposal %q", truncate(r.PathValue("id"), 80))
}

func (o *Officers) serveApprove(r *http.Request, _ struct{}) (*endpoint.Reply, error) {
	p, err := PrincipalOf(r)
	if err != nil {
		return nil, err
	}
	prop, code, err := o.Approve(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return endpoint.OK(ProposalJSON{Proposal: prop, ApproverCode: code}).NoStore(), nil
}

func (o *Officers) serveReject(r *http.Request, req CommentJSON) (*endpoint.Reply, error) {
	p, err := PrincipalOf(r)
	if err != nil {
		return nil, err
	}
	prop, err := o.Reject(r.Context(), p, r.PathValue("id"), req.Comment)
	if err != nil {
		return nil, err
	}
	return endpoint.OK(ProposalJSON{Proposal: prop}), nil
}

// Validate requires the proposal and both codes.
func (c ClaimJSON) Validate() error {
	for _, f := range []struct{ field, v string }{{"proposal", c.Proposal}, {"proposer_code", c.ProposerCode}, {"approver_code", c.ApproverCode}} {
		if f.v == "" {
			return badRequest(f.field, nil, "required")
		}
	}
	return nil
}

func (o *Officers) serveClaim(r *http.Request, req ClaimJSON) (*endpoint.Reply, error) {
	ttl, err := parseTTL(req.TTL)
	if err != nil {
		return nil, err
	}
	token, off, err := o.Claim(r.Context(), req.Proposal, req.ProposerCode, req.ApproverCode, ttl, r.RemoteAddr)
	if err != nil {
		return nil, err
	}
	p, err := o.Authenticate(r.Context(), token)
	if err != nil {
		return nil, err
	}
	return endpoint.Created("", TokenJSON{Token: token, Officer: off.Name, Role: off.Role, ExpiresAt: p.TokenExpiresAt}).NoStore(), nil
}

func (o *Officers) serveRenew(r *http.Request, req RenewJSON) (*endpoint.Reply, error) {
	p, err := PrincipalOf(r)
	if err != nil {
		return nil, err
	}
	ttl, err := parseTTL(req.TTL)
	if err != nil {
		return nil, err
	}
	token, exp, err := o.RenewToken(r.Context(), p, ttl)
	if err != nil {
		return nil, err
	}
	return endpoint.Created("", TokenJSON{Token: token, Officer: p.Name, Role: p.Role, ExpiresAt: exp}).NoStore(), nil
}

func (o *Officers) serveMe(r *http.Request) (*endpoint.Reply, error) {
	p, err := PrincipalOf(r)
	if err != nil {
		return nil, err
	}
	return endpoint.OK(MeJSON{Officer: p.Name, Role: p.Role, TokenExpiresAt: p.TokenExpiresAt}), nil
}
