package console

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/store/storetest"
)

// boundOfficers is the real officer registry whose bootstrap officers are
// bound to the sign-on accounts "u-" + name.
type boundOfficers struct{ *access.Officers }

func (b boundOfficers) List(ctx context.Context) ([]*access.Officer, error) {
	all, err := b.Officers.List(ctx)
	for _, o := range all {
		if o.UserID == "" {
			o.UserID = "u-" + o.Name
		}
	}
	return all, err
}

func TestProposalApprovedByTargetRole(t *testing.T) {
	f := newFixture(t)
	reg := access.New(storetest.SQLite(t), access.WithAuditor(f.rec), access.WithLogger(slog.New(slog.DiscardHandler)))
	if _, err := reg.Bootstrap(context.Background(), "system:init"); err != nil {
		t.Fatal(err)
	}
	f.c.d.Officers = boundOfficers{reg}
	cookie := func(name, role string, authAgo time.Duration) *http.Cookie {
		return f.cookie(t, "u-"+name, name, role, authAgo, time.Minute)
	}
	sys, ra, aud := cookie("sysadmin-1", access.RoleSysadmin, time.Minute), cookie("ra-1", access.RoleRA, time.Minute), cookie("auditor-1", access.RoleAuditor, time.Minute)
	csrf := func(name string) url.Values { return url.Values{"csrf_token": {f.c.csrf.Token("sid-" + name)}} }

	form := csrf("sysadmin-1")
	form.Set("kind", "add")
	form.Set("officer", "ra-2")
	form.Set("role", access.RoleRA)
	if w := f.do("POST", "/console/admin/proposals", sys, form); w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), `id="claim"`) {
		t.Fatalf("propose: %d\n%s", w.Code, w.Body)
	}
	props, err := reg.Proposals(context.Background(), access.ProposalPending)
	if err != nil || len(props) != 1 {
		t.Fatalf("pending proposals: %v %v", props, err)
	}
	id := props[0].ID
	approve := "/console/proposals/" + id + "/approve"

	// The registration officer sees it with an approve button; the
	// auditor (another role) does not; the sysadmin sees none either.
	if w := f.do("GET", "/console/proposals", ra, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `action="proposals/`+id+`/approve"`) {
		t.Errorf("ra's proposals page: %d\n%s", w.Code, w.Body)
	}
	for name, c := range map[string]*http.Cookie{"auditor": aud, "sysadmin": sys} {
		if w := f.do("GET", "/console/proposals", c, nil); w.Code != http.StatusOK || strings.Contains(w.Body.String(), id) {
			t.Errorf("%s sees another role's proposal: %d", name, w.Code)
		}
	}

	for _, tc := range []struct {
		name   string
		c      *http.Cookie
		form   url.Values
		status int
		want   string
	}{
		{"fail/no-csrf", ra, url.Values{}, http.StatusForbidden, ""},
		{"fail/stale-sign-in", cookie("ra-1", access.RoleRA, 10*time.Minute), csrf("ra-1"), http.StatusSeeOther, ""},
		{"fail/other-role", aud, csrf("auditor-1"), http.StatusForbidden, "only an officer of role ra"},
		{"fail/proposer", sys, csrf("sysadmin-1"), http.StatusForbidden, "only an officer of role ra"},
		{"ok/target-role", ra, csrf("ra-1"), http.StatusOK, `id="approver-code"`},
		{"fail/again", ra, csrf("ra-1"), http.StatusConflict, "is approved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do("POST", approve, tc.c, tc.form)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("%d, want %d with %q\n%s", w.Code, tc.status, tc.want, w.Body)
			}
			if tc.status == http.StatusSeeOther && !strings.Contains(w.Header().Get("Location"), "/console/signin?fresh=1") {
				t.Errorf("stale approval sent to %q", w.Header().Get("Location"))
			}
		})
	}
	p, err := reg.Proposals(context.Background(), access.ProposalApproved)
	if err != nil || len(p) != 1 || p[0].DecidedBy != "officer:ra-1" {
		t.Fatalf("approved proposals: %+v %v", p, err)
	}
	// A sysadmin proposal that no other sysadmin can approve (sysadmin-1
	// proposed it) is shown to the security auditor, who approves it.
	form = csrf("sysadmin-1")
	form.Set("kind", "add")
	form.Set("officer", "sysadmin-2")
	form.Set("role", access.RoleSysadmin)
	if w := f.do("POST", "/console/admin/proposals", sys, form); w.Code != http.StatusCreated {
		t.Fatalf("propose a sysadmin: %d\n%s", w.Code, w.Body)
	}
	pending, err := reg.Proposals(context.Background(), access.ProposalPending)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending: %v %v", pending, err)
	}
	if w := f.do("GET", "/console/proposals", aud, nil); !strings.Contains(w.Body.String(), `action="proposals/`+pending[0].ID+`/approve"`) {
		t.Errorf("the auditor is not offered the sole-sysadmin proposal:\n%s", w.Body)
	}
	if w := f.do("POST", "/console/proposals/"+pending[0].ID+"/approve", aud, csrf("auditor-1")); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="approver-code"`) {
		t.Errorf("the auditor's approval: %d\n%s", w.Code, w.Body)
	}
	var audited bool
	for _, ev := range f.rec.evs {
		audited = audited || (ev.Action == "access.proposal.approve" && ev.Outcome == "success" && ev.Actor == "officer:ra-1")
	}
	if !audited {
		t.Error("approval not in the audit log")
	}
}
