package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/web"
)

func (c *Console) adminRoutes(h func(string, http.HandlerFunc)) {
	sys := func(f guarded) http.HandlerFunc { return c.need(access.RoleSysadmin, f) }
	h("GET /admin/officers", sys(c.adminOfficers))
	h("POST /admin/proposals", sys(c.adminPropose))
	h("GET /admin/departments", sys(c.adminDepartments))
}

// adminOfficers lists the officers and the open proposals, with the form
// to propose a change.
func (c *Console) adminOfficers(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.page(s, "console.officers.title", "/admin/officers")
	if err := c.officersData(r, p, nil); err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	c.render(w, r, http.StatusOK, "officers", p)
}

// officersData fills p with the officers, the open proposals and extra.
func (c *Console) officersData(r *http.Request, p *web.Page, extra map[string]any) error {
	officers, err := c.d.Officers.List(r.Context())
	if err != nil {
		return err
	}
	props, err := c.d.Officers.Proposals(r.Context(), access.ProposalPending)
	if err != nil {
		return err
	}
	data := map[string]any{"Officers": officers, "Proposals": props, "Roles": access.Roles}
	for k, v := range extra {
		data[k] = v
	}
	p.Data = data
	return nil
}

// adminPropose proposes an officer change (add, bind, token), after a
// fresh sign-in. The proposer's claim code is shown once.
func (c *Console) adminPropose(w http.ResponseWriter, r *http.Request, s *session) {
	form, err := c.csrf.Check(w, r, s.ID)
	if err != nil {
		c.fail(w, r, s, http.StatusForbidden, "web.csrf", nil)
		return
	}
	if !c.isFresh(w, r, s, c.prefix+"/admin/officers") {
		return
	}
	get := func(k string) string { return truncate(strings.TrimSpace(form.Get(k)), 256) }
	req := access.ProposalRequest{Kind: get("kind"), Officer: get("officer"), Role: get("role"), User: get("username"), Comment: get("comment")}
	ctx := access.WithPrincipal(r.Context(), s.principal(r))
	prop, code, err := c.d.Officers.Propose(ctx, s.principal(r), req)
	p := c.page(s, "console.officers.title", "/admin/officers")
	if err != nil {
		var ae *access.Error
		if errors.As(err, &ae) && ae.HTTPStatus() < 500 {
			p.Error = err.Error()
			if derr := c.officersData(r, p, nil); derr != nil {
				c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", derr)
				return
			}
			c.render(w, r, ae.HTTPStatus(), "officers", p)
			return
		}
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	if err := c.officersData(r, p, map[string]any{"Proposed": prop, "Code": code}); err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	p.Flash = "console.officers.proposed"
	c.render(w, r, http.StatusCreated, "officers", p)
}

// adminDepartments shows the department registry.
func (c *Console) adminDepartments(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.page(s, "console.departments.title", "/admin/departments")
	p.Data = c.d.Registry.All()
	c.render(w, r, http.StatusOK, "departments", p)
}
