package portal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/gateway"
	"github.com/tongxing/tongxing/signature"
	"github.com/tongxing/tongxing/web/rp"
)

type fakeLog struct{ entries []auditlog.Entry }

func (f *fakeLog) Search(_ context.Context, q auditlog.Query) (*auditlog.Page, error) {
	start := 0
	if q.Cursor != "" {
		start, _ = strconv.Atoi(q.Cursor)
	}
	var out []auditlog.Entry
	for _, e := range f.entries[start:] {
		if e.CitizenHash == q.CitizenHash && e.Action == q.Action && e.Decision == q.Decision {
			out = append(out, e)
		}
	}
	p := &auditlog.Page{}
	if len(out) > q.Limit {
		p.Entries = out[:q.Limit]
		p.Next = strconv.FormatUint(out[q.Limit-1].Index+1, 10)
	} else {
		p.Entries = out
	}
	return p, nil
}

type noPolicy struct{}

func (noPolicy) Current() *authz.Policy { return nil }

// TestAccessPages: a citizen with more calls than one page sees every one,
// a page at a time, following the link to the next page.
func TestAccessPages(t *testing.T) {
	key := []byte("citizen-key-0123456789")
	h := auditlog.CitizenHash(key, "u1")
	log := &fakeLog{}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 250; i++ {
		res := "tax.cheap"
		if i >= 200 {
			res = "gongan.household" // the later calls
		}
		log.entries = append(log.entries, auditlog.Entry{Index: uint64(i), Time: t0.Add(time.Duration(i) * time.Minute),
			Action: gateway.ActionCall, Decision: auditlog.DecisionAllow, CitizenHash: h,
			Actor: auditlog.Actor{Subject: "spiffe://x/dept/tax/svc/a", Department: "tax"}, Object: auditlog.Object{Resource: res + " GET /x", Department: "gongan"}})
	}
	reg, _ := department.New()
	acc := &accounts{}
	op := http.NewServeMux()
	(&gateway.Ledger{Sessions: acc, Log: log, Key: key, Registry: reg, Policy: noPolicy{}}).Routes(op)
	op.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"issuer":"https://tongxing.example","authorization_endpoint":"https://tongxing.example/oauth2/authorize",` +
			`"token_endpoint":"https://tongxing.example/oauth2/token","jwks_uri":"https://tongxing.example/jwks"}`))
	})
	p, err := New(Deps{Issuer: "https://tongxing.example", Provider: rp.InProcess(op), Key: []byte("0123456789abcdef0123"),
		Accounts: acc, Users: users{}, Inventory: &inventory{},
		Verify: func(context.Context, []byte, []byte) (*signature.Report, error) { return nil, errors.New("unused") }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Routes(mux)
	next := regexp.MustCompile(`id="access-next" href="\?cursor=([A-Za-z0-9_-]+)"`)
	rows, household, pages := 0, 0, 0
	for path := "/me/access"; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("the pages do not end")
		}
		w := do(mux, httptest.NewRequest("GET", path, nil), true)
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		body := w.Body.String()
		rows += strings.Count(body, "<tr><td>")
		household += strings.Count(body, "gongan.household")
		path = ""
		if m := next.FindStringSubmatch(body); m != nil {
			path = "/me/access?cursor=" + m[1]
		}
	}
	if rows != 250 || household != 50 || pages != 2 {
		t.Fatalf("saw %d rows (%d of the later calls) on %d pages, want 250 (50) on 2", rows, household, pages)
	}
	if w := do(mux, httptest.NewRequest("GET", "/me/access?cursor=forged", nil), true); w.Code != 400 {
		t.Fatalf("a forged cursor: %d", w.Code)
	}
}
