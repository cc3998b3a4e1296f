package console

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/auditlog/sm2note"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/kmc"
	"github.com/tongxing/tongxing/department"
)

// officers is a fixed officer list.
type officers struct{ list []*access.Officer }

func (o *officers) List(context.Context) ([]*access.Officer, error) { return o.list, nil }
func (o *officers) Proposals(context.Context, string) ([]*access.Proposal, error) {
	return nil, nil
}
func (o *officers) Propose(context.Context, *access.Principal, access.ProposalRequest) (*access.Proposal, string, error) {
	return nil, "", errors.New("not in this test")
}
func (o *officers) Approve(context.Context, *access.Principal, string) (*access.Proposal, string, error) {
	return nil, "", errors.New("not in this test")
}
func (o *officers) SignOutConsole(_ context.Context, p *access.Principal, at time.Time) error {
	for _, off := range o.list {
		if off.Name == p.Name {
			off.ConsoleSignedOutAt = at
		}
	}
	return nil
}

// recorder keeps the events the console records; fail makes it refuse.
type recorder struct {
	mu   sync.Mutex
	evs  []access.Event
	fail bool
}

func (r *recorder) Record(_ context.Context, ev access.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("audit log down")
	}
	r.evs = append(r.evs, ev)
	return nil
}

func (r *recorder) last() access.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.evs) == 0 {
		return access.Event{}
	}
	return r.evs[len(r.evs)-1]
}

// unused stands for the audit log and the CA in tests of pages that do
// not read them: every call fails.
type unused struct{}

var errUnused = errors.New("not in this test")

func (unused) Search(context.Context, auditlog.Query) (*auditlog.Page, error) { return nil, errUnused }
func (unused) Entry(context.Context, uint64) (auditlog.Entry, error) {
	return auditlog.Entry{}, errUnused
}
func (unused) LatestCheckpoint(context.Context) (*auditlog.Checkpoint, error) {
	return nil, errUnused
}
func (unused) Checkpoints(context.Context, uint64, int) ([]*auditlog.Checkpoint, error) {
	return nil, errUnused
}
func (unused) InclusionProof(context.Context, uint64, uint64) ([][]byte, error) {
	return nil, errUnused
}
func (unused) Export(context.Context, io.Writer, auditlog.Query) (*auditlog.ExportReport, error) {
	return nil, errUnused
}
func (unused) Token(context.Context, string) ([]byte, error)                   { return nil, errUnused }
func (unused) Certificate(context.Context, string) (*ca.Record, error)         { return nil, errUnused }
func (unused) Certificates(context.Context, ca.Filter) ([]*ca.Record, error)   { return nil, errUnused }
func (unused) SetStatus(context.Context, ca.StatusChange) (*ca.Record, error)  { return nil, errUnused }
func (unused) Recoveries(context.Context, kmc.Status) ([]*kmc.Recovery, error) { return nil, errUnused }
func (unused) Approve(context.Context, string, string) (*kmc.Recovery, error)  { return nil, errUnused }
func (unused) Reject(context.Context, string, string, string) (*kmc.Recovery, error) {
	return nil, errUnused
}
func (unused) CreateCode(context.Context, ca.NewCodeRequest) (string, *ca.Code, error) {
	return "", nil, errUnused
}

type fixture struct {
	c    *Console
	mux  *http.ServeMux
	rec  *recorder
	offs *officers
	now  time.Time
}

// newFixture is a console with four officers on a fixed clock; mods
// change its dependencies before it is made.
func newFixture(t *testing.T, mods ...func(*Deps)) *fixture {
	t.Helper()
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sm2note.NewVerifier("audit.test/log", &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := department.New(department.Department{ID: "tax", Name: "税务局", NameEN: "Tax bureau"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{rec: &recorder{}, now: time.Unix(1_800_000_000, 0), offs: &officers{list: []*access.Officer{
		{Name: "aud", Role: access.RoleAuditor, Status: access.StatusActive, UserID: "u-aud"},
		{Name: "reg", Role: access.RoleRA, Status: access.StatusActive, UserID: "u-ra"},
		{Name: "sys", Role: access.RoleSysadmin, Status: access.StatusActive, UserID: "u-sys"},
		{Name: "gone", Role: access.RoleAuditor, Status: access.StatusRevoked, UserID: "u-gone"},
	}}}
	d := Deps{Issuer: "https://tongxing.example", Provider: http.DefaultTransport, Key: []byte("0123456789abcdef0123456789abcdef"),
		Officers: f.offs, Recorder: f.rec, Audit: unused{}, Checkpoints: v, TSARoots: smx509.NewCertPool(), CA: unused{}, Recovery: unused{}, Registry: reg, Accounts: http.NotFoundHandler()}
	for _, m := range mods {
		m(&d)
	}
	f.c, err = New(d)
	if err != nil {
		t.Fatal(err)
	}
	f.c.now = func() time.Time { return f.now }
	f.mux = http.NewServeMux()
	f.c.Routes(f.mux)
	return f
}

// cookie is a console session of officer (by account) signed in at
// authAgo before now and last seen seenAgo before now.
func (f *fixture) cookie(t *testing.T, userID, officer, role string, authAgo, seenAgo time.Duration) *http.Cookie {
	t.Helper()
	s := session{ID: "sid-" + officer, UserID: userID, Officer: officer, Role: role, ACR: "urn:tongxing:loa:3",
		AuthTime: f.now.Add(-authAgo).Unix(), Started: f.now.Add(-authAgo).Unix(), Seen: f.now.Add(-seenAgo).Unix()}
	v, err := f.c.cookies.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: sessionCookie, Value: v}
}

func (f *fixture) do(method, target string, c *http.Cookie, form url.Values) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c != nil {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	return w
}

func TestRoles(t *testing.T) {
	f := newFixture(t)
	aud := f.cookie(t, "u-aud", "aud", access.RoleAuditor, time.Minute, time.Minute)
	ra := f.cookie(t, "u-ra", "reg", access.RoleRA, time.Minute, time.Minute)
	sys := f.cookie(t, "u-sys", "sys", access.RoleSysadmin, time.Minute, time.Minute)
	for _, tc := range []struct {
		name, method, path string
		c                  *http.Cookie
		status             int
		action             string
	}{
		{"fail/no-session-signs-in", "GET", "/console/audit", nil, http.StatusSeeOther, ""},
		{"fail/sysadmin-audit-search", "GET", "/console/audit", sys, http.StatusForbidden, "access.deny"},
		{"fail/sysadmin-audit-entry", "GET", "/console/audit/entries/0", sys, http.StatusForbidden, "access.deny"},
		{"fail/sysadmin-audit-export", "GET", "/console/audit/export", sys, http.StatusForbidden, "access.deny"},
		{"fail/sysadmin-charts", "GET", "/console/audit/charts", sys, http.StatusForbidden, "access.deny"},
		{"fail/ra-audit", "GET", "/console/audit/checkpoints", ra, http.StatusForbidden, "access.deny"},
		{"fail/auditor-ra-desk", "GET", "/console/ra", aud, http.StatusForbidden, "access.deny"},
		{"fail/auditor-revokes", "POST", "/console/ra/certificates/01/status", aud, http.StatusForbidden, "access.deny"},
		{"fail/auditor-proposes", "POST", "/console/admin/proposals", aud, http.StatusForbidden, "access.deny"},
		{"fail/auditor-recovery", "POST", "/console/ra/recoveries/r1", aud, http.StatusForbidden, "access.deny"},
		{"fail/sysadmin-recoveries", "GET", "/console/ra/recoveries", sys, http.StatusForbidden, "access.deny"},
		{"fail/auditor-users", "GET", "/console/admin/users", aud, http.StatusForbidden, "access.deny"},
		{"fail/ra-totp-reset", "POST", "/console/admin/users/x/totp-reset", ra, http.StatusForbidden, "access.deny"},
		{"fail/auditor-clients", "POST", "/console/admin/clients", aud, http.StatusForbidden, "access.deny"},
		{"fail/auditor-policies", "GET", "/console/admin/policies", aud, http.StatusForbidden, "access.deny"},
		{"ok/sysadmin-policies-without-gateway", "GET", "/console/admin/policies", sys, http.StatusOK, "access.allow"},
		{"fail/ra-officers", "GET", "/console/admin/officers", ra, http.StatusForbidden, "access.deny"},
		{"fail/ra-codes-without-csrf", "POST", "/console/ra/codes", ra, http.StatusForbidden, "access.allow"},
		{"ok/sysadmin-departments", "GET", "/console/admin/departments", sys, http.StatusOK, "access.allow"},
		{"ok/auditor-home", "GET", "/console/", aud, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.rec.evs = nil
			var form url.Values
			if tc.method == "POST" {
				form = url.Values{"to": {"revoked"}}
			}
			w := f.do(tc.method, tc.path, tc.c, form)
			if w.Code != tc.status {
				t.Fatalf("%s %s: %d, want %d\n%s", tc.method, tc.path, w.Code, tc.status, w.Body)
			}
			ev := f.rec.last()
			if ev.Action != tc.action {
				t.Errorf("recorded %q, want %q", ev.Action, tc.action)
			}
			if tc.action != "" && (!strings.HasPrefix(ev.Resource, "console:"+tc.method+" "+tc.path) || ev.Actor == "") {
				t.Errorf("recorded %+v", ev)
			}
			if w.Header().Get("Content-Security-Policy") == "" && w.Code != http.StatusSeeOther {
				t.Error("page without CSP")
			}
		})
	}
}

func TestSessionLifetime(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		c    *http.Cookie
		in   bool
	}{
		{"ok/fresh", f.cookie(t, "u-aud", "aud", access.RoleAuditor, time.Minute, time.Minute), true},
		{"fail/idle", f.cookie(t, "u-aud", "aud", access.RoleAuditor, 20*time.Minute, 16*time.Minute), false},
		{"fail/too-old", f.cookie(t, "u-aud", "aud", access.RoleAuditor, 9*time.Hour, time.Minute), false},
		{"fail/revoked-officer", f.cookie(t, "u-gone", "gone", access.RoleAuditor, time.Minute, time.Minute), false},
		{"fail/role-changed", f.cookie(t, "u-aud", "aud", access.RoleSysadmin, time.Minute, time.Minute), false},
		{"fail/other-account", f.cookie(t, "u-ra", "aud", access.RoleAuditor, time.Minute, time.Minute), false},
		{"fail/forged", &http.Cookie{Name: sessionCookie, Value: "eyJ1IjoidS1hdWQifQ.AAAA"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do("GET", "/console/", tc.c, nil)
			in := strings.Contains(w.Body.String(), `id="whoami"`)
			if in != tc.in {
				t.Errorf("signed in %v, want %v", in, tc.in)
			}
		})
	}
}

func TestFreshAuthentication(t *testing.T) {
	f := newFixture(t)
	stale := f.cookie(t, "u-ra", "reg", access.RoleRA, 10*time.Minute, time.Minute)
	form := url.Values{"csrf_token": {f.c.csrf.Token("sid-reg")}, "to": {"revoked"}, "reason": {"keyCompromise"}}
	w := f.do("POST", "/console/ra/certificates/0a/status", stale, form)
	loc := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || !strings.Contains(loc, "/console/signin?fresh=1") || !strings.Contains(loc, url.QueryEscape("/console/ra/certificates/0a")) {
		t.Errorf("stale revocation: %d %q", w.Code, loc)
	}
	// The audit log cannot record: refused.
	f.rec.fail = true
	if w := f.do("GET", "/console/admin/departments", f.cookie(t, "u-sys", "sys", access.RoleSysadmin, time.Minute, time.Minute), nil); w.Code != http.StatusServiceUnavailable {
		t.Errorf("unrecorded decision: %d", w.Code)
	}
}

func TestCharts(t *testing.T) {
	start := time.Unix(1_800_000_000, 0).Truncate(time.Hour)
	s := &series{Start: start, Names: []string{"tax", "<x>"}, Counts: map[string][]int{"tax": make([]int, chartWindow), "<x>": make([]int, chartWindow)}}
	s.Counts["tax"][3], s.Counts["<x>"][3] = 5, 2
	svg := string(svgBars(s, "calls", "调用", func(n string) string { return n }))
	for _, want := range []string{`<svg class="chart" role="img" aria-labelledby="calls-t"`, `<title id="calls-t">调用</title>`, `&lt;x&gt;`, `: 5</title>`, ">7<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q:\n%s", want, svg)
		}
	}
	if strings.Contains(svg, "<x>") || strings.Contains(svg, "script") {
		t.Error("chart label not escaped")
	}
}

// TestSignoutEndsCookie: the session cookie is signed, not stored, so
// sign-out is recorded with the officer: a copy of the cookie taken before
// is refused afterwards (on any replica), and a later sign-in works.
func TestSignoutEndsCookie(t *testing.T) {
	f := newFixture(t)
	ck := f.cookie(t, "u-sys", "sys", access.RoleSysadmin, time.Minute, time.Minute)
	if w := f.do("GET", "/console/admin/departments", ck, nil); w.Code != 200 {
		t.Fatalf("before sign-out: %d", w.Code)
	}
	w := f.do("POST", "/console/signout", ck, url.Values{"csrf_token": {f.c.csrf.Token("sid-sys")}})
	if sc := strings.Join(w.Header().Values("Set-Cookie"), " | "); w.Code != 303 || !strings.Contains(sc, "Max-Age=0") {
		t.Fatalf("signout: %d %q", w.Code, sc)
	}
	if ev := f.rec.last(); ev.Action != "console.signout" {
		t.Fatalf("signout not recorded: %+v", ev)
	}
	f.now = f.now.Add(5 * time.Minute)
	if w := f.do("GET", "/console/admin/departments", ck, nil); w.Code == 200 {
		t.Errorf("a copy of the cookie after sign-out: %d", w.Code)
	}
	again := f.cookie(t, "u-sys", "sys", access.RoleSysadmin, time.Minute, time.Minute)
	if w := f.do("GET", "/console/admin/departments", again, nil); w.Code != 200 {
		t.Errorf("a sign-in after the sign-out: %d", w.Code)
	}
}
