package console

import (
	"context"
	"net/http"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/authz"
)

// Policies is the gateway policy as this replica holds it and the stored
// revisions (the authz engine and bundle store).
type Policies interface {
	Current() *authz.Policy
	Revisions(ctx context.Context, limit int) ([]authz.Revision, error)
}

// policyView is the policies page.
type policyView struct {
	Loaded     string
	Revisions  []authz.Revision
	Resources  []*authz.Resource
	Agreements []authz.Agreement
	Names      map[string]string // resource ID -> name
}

// adminPolicies shows the policy this replica evaluates with, the
// revision history, the resource catalogue and the sharing agreements.
// Changes are new signed bundles (PUT /authz/v1/bundle, `tongxing policy`).
func (c *Console) adminPolicies(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.page(s, "console.policies.title", "/admin/policies")
	v := &policyView{Names: map[string]string{}}
	if c.d.Policies != nil {
		revs, err := c.d.Policies.Revisions(r.Context(), 50)
		if err != nil {
			c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
			return
		}
		v.Revisions = revs
		if pol := c.d.Policies.Current(); pol != nil {
			v.Loaded, v.Resources, v.Agreements = pol.Revision(), pol.Catalogue().Resources(), pol.Agreements()
			en := langOf(r) == "en"
			for _, res := range v.Resources {
				v.Names[res.ID] = res.Name
				if en && res.NameEN != "" {
					v.Names[res.ID] = res.NameEN
				}
			}
		}
	}
	p.Data = v
	c.render(w, r, http.StatusOK, "policies", p)
}

func (c *Console) policyRoutes(h func(string, http.HandlerFunc)) {
	h("GET /admin/policies", c.need(access.RoleSysadmin, c.adminPolicies))
}
