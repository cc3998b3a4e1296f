package console

import (
	"errors"
	"net/http"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/web"
)

// Officer proposals are activated by the target role (the officers
// issue): every officer sees the pending proposals that officers of their
// own role decide, and approves one after a fresh sign-in with the same
// call as `tongxing officers approve`. Package access enforces who may
// approve (the role, not the proposer, not the officer concerned; a
// security auditor for a sysadmin proposal no other sysadmin can approve)
// and audits the approval.

func (c *Console) proposalRoutes(h func(string, http.HandlerFunc)) {
	h("GET /proposals", c.need("", c.proposals))
	h("POST /proposals/{id}/approve", c.need("", c.approveProposal))
}

// decides reports whether an officer of role is shown proposal p: its
// target role is theirs, or (the security auditor) it admits a sysadmin,
// which the auditor approves when no other sysadmin can.
func decides(role string, p *access.Proposal) bool {
	return p.Role == role || (role == access.RoleAuditor && p.Role == access.RoleSysadmin)
}

// proposals lists the pending proposals s's role decides.
func (c *Console) proposals(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.page(s, "console.proposals.title", "/proposals")
	if err := c.proposalsData(r, s, p, nil); err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	c.render(w, r, http.StatusOK, "proposals", p)
}

// proposalsData fills p with the pending proposals of s's role and extra.
func (c *Console) proposalsData(r *http.Request, s *session, p *web.Page, extra map[string]any) error {
	all, err := c.d.Officers.Proposals(r.Context(), access.ProposalPending)
	if err != nil {
		return err
	}
	var mine []*access.Proposal
	for _, prop := range all {
		if decides(s.Role, prop) {
			mine = append(mine, prop)
		}
	}
	data := map[string]any{"Proposals": mine, "Me": "officer:" + s.Officer}
	for k, v := range extra {
		data[k] = v
	}
	p.Data = data
	return nil
}

// approveProposal approves a proposal after a fresh sign-in; the
// approver's claim code (add and token proposals) is shown once.
func (c *Console) approveProposal(w http.ResponseWriter, r *http.Request, s *session) {
	if _, err := c.csrf.Check(w, r, s.ID); err != nil {
		c.fail(w, r, s, http.StatusForbidden, "web.csrf", nil)
		return
	}
	if !c.isFresh(w, r, s, c.prefix+"/proposals") {
		return
	}
	pr := s.principal(r)
	prop, code, err := c.d.Officers.Approve(access.WithPrincipal(r.Context(), pr), pr, truncate(r.PathValue("id"), 80))
	p := c.page(s, "console.proposals.title", "/proposals")
	if err != nil {
		var ae *access.Error
		if !errors.As(err, &ae) || ae.HTTPStatus() >= 500 {
			c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
			return
		}
		p.Error = err.Error()
		if derr := c.proposalsData(r, s, p, nil); derr != nil {
			c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", derr)
			return
		}
		c.render(w, r, ae.HTTPStatus(), "proposals", p)
		return
	}
	if err := c.proposalsData(r, s, p, map[string]any{"Approved": prop, "Code": code}); err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	p.Flash = "console.proposals.approved"
	c.render(w, r, http.StatusOK, "proposals", p)
}
