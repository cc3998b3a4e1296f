package console

import (
	"context"
	"io"
	"net/http"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/web"
)

// Policies is the gateway policy as this replica holds it and the stored
// revisions (the authz engine and bundle store).
type Policies interface {
	Current() *authz.Policy
	Revisions(ctx context.Context, limit int) ([]authz.Revision, error)
}

// policyView is the policies page.
type policyView struct {
	// Upload is true when a signed bundle can be uploaded here.
	Upload     bool
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
	if err := c.policyData(r, p); err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	c.render(w, r, http.StatusOK, "policies", p)
}

// policyData fills p with the policies page's data.
func (c *Console) policyData(r *http.Request, p *web.Page) error {
	v := &policyView{Names: map[string]string{}, Upload: c.d.Bundles != nil}
	if r.URL.Query().Get("done") == "1" {
		p.Flash = "console.policies.activated.ok"
	}
	if c.d.Policies != nil {
		revs, err := c.d.Policies.Revisions(r.Context(), 50)
		if err != nil {
			return err
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
	return nil
}

func (c *Console) policyRoutes(h func(string, http.HandlerFunc)) {
	h("GET /admin/policies", c.need(access.RoleSysadmin, c.adminPolicies))
	h("POST /admin/policies", c.need(access.RoleSysadmin, c.uploadBundle))
}

// uploadBundle activates an uploaded signed policy bundle, after a fresh
// sign-in, with the call `tongxing policy` makes (PUT /authz/v1/bundle):
// the API verifies it against the policy-signer key, compiles it, stores
// it for every replica and records the activation or the refusal.
func (c *Console) uploadBundle(w http.ResponseWriter, r *http.Request, s *session) {
	if c.d.Bundles == nil {
		c.fail(w, r, s, http.StatusNotFound, "console.err.notfound", nil)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, authz.MaxBundleSize+1<<20)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		c.fail(w, r, s, http.StatusRequestEntityTooLarge, "console.policies.toolarge", nil)
		return
	}
	defer r.MultipartForm.RemoveAll()
	if _, err := c.csrf.Check(w, r, s.ID); err != nil {
		c.fail(w, r, s, http.StatusForbidden, "web.csrf", nil)
		return
	}
	back := c.prefix + "/admin/policies"
	if !c.isFresh(w, r, s, back) {
		return
	}
	f, _, err := r.FormFile("bundle")
	if err != nil {
		c.policyRefusal(w, r, s, http.StatusBadRequest, "console.policies.nofile")
		return
	}
	defer f.Close()
	status, body := c.callAPI(c.d.Bundles, r, s, "PUT", "/authz/v1/bundle", io.LimitReader(f, authz.MaxBundleSize+1), "application/gzip")
	if status != http.StatusOK {
		c.policyRefusal(w, r, s, max(status, http.StatusBadRequest), problemDetail(status, body))
		return
	}
	http.Redirect(w, r, back+"?done=1", http.StatusSeeOther)
}

// policyRefusal shows the policies page with msg (a message key or the
// API's detail).
func (c *Console) policyRefusal(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	p := c.page(s, "console.policies.title", "/admin/policies")
	p.Error = msg
	if err := c.policyData(r, p); err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	c.render(w, r, status, "policies", p)
}
