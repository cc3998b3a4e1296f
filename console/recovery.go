package console

import (
	"context"
	"net/http"
	"strings"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/ca/kmc"
)

// KeyRecovery is the KMC's dual-control recovery; *kmc.Centre is one. It
// enforces the two approvals by officers other than the requester.
type KeyRecovery interface {
	Recoveries(ctx context.Context, status kmc.Status) ([]*kmc.Recovery, error)
	Approve(ctx context.Context, id, officer string) (*kmc.Recovery, error)
	Reject(ctx context.Context, id, officer, comment string) (*kmc.Recovery, error)
}

func (c *Console) recoveryRoutes(h func(string, http.HandlerFunc)) {
	ra := func(f guarded) http.HandlerFunc { return c.need(access.RoleRA, f) }
	h("GET /ra/recoveries", ra(c.raRecoveries))
	h("POST /ra/recoveries/{id}", ra(c.raDecideRecovery))
}

// raRecoveries lists the key recoveries waiting for approvals or
// delivery.
func (c *Console) raRecoveries(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.page(s, "console.recoveries.title", "/ra/recoveries")
	if r.URL.Query().Get("done") != "" {
		p.Flash = "console.recoveries.done"
	}
	var all []*kmc.Recovery
	for _, st := range []kmc.Status{kmc.StatusRequested, kmc.StatusApproved} {
		rs, err := c.d.Recovery.Recoveries(r.Context(), st)
		if err != nil {
			c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
			return
		}
		all = append(all, rs...)
	}
	// What an approver approves is where the key goes: the SM3 fingerprint
	// of the deliver-to key, to compare with the one the ticket names.
	deliverTo := make(map[string]string, len(all))
	for _, rc := range all {
		deliverTo[rc.ID] = kmc.KeyFingerprint(rc.DeliverTo)
	}
	p.Data = map[string]any{"Recoveries": all, "DeliverTo": deliverTo, "Me": "officer:" + s.Officer}
	c.render(w, r, http.StatusOK, "recoveries", p)
}

// raDecideRecovery approves or rejects a recovery, after a fresh sign-in;
// the KMC refuses the requester's own approval and a second one by the
// same officer.
func (c *Console) raDecideRecovery(w http.ResponseWriter, r *http.Request, s *session) {
	form, err := c.csrf.Check(w, r, s.ID)
	if err != nil {
		c.fail(w, r, s, http.StatusForbidden, "web.csrf", nil)
		return
	}
	back := c.prefix + "/ra/recoveries"
	if !c.isFresh(w, r, s, back) {
		return
	}
	ctx := access.WithPrincipal(r.Context(), s.principal(r))
	id, who := r.PathValue("id"), "officer:"+s.Officer
	switch form.Get("decision") {
	case "approve":
		_, err = c.d.Recovery.Approve(ctx, id, who)
	case "reject":
		_, err = c.d.Recovery.Reject(ctx, id, who, truncate(strings.TrimSpace(form.Get("comment")), 512))
	default:
		c.fail(w, r, s, http.StatusBadRequest, "console.err.status", nil)
		return
	}
	if err != nil {
		c.caFailure(w, r, s, err)
		return
	}
	http.Redirect(w, r, back+"?done=1", http.StatusSeeOther)
}
