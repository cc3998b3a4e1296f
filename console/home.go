package console

import "net/http"

// home is the console's start page: the sign-in link, or the officer's
// role and pages.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	s, err := c.current(w, r)
	if err != nil {
		c.fail(w, r, nil, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	p := c.page(s, "console.home.title", "")
	data := map[string]any{"SignIn": c.prefix + "/signin"}
	if s != nil {
		data["Role"], data["ACR"], data["Officer"] = "console.role."+s.Role, s.ACR, s.Officer
	}
	p.Data = data
	c.render(w, r, http.StatusOK, "home", p)
}
