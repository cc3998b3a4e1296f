package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/ca/ident"
)

// Search implements Searcher over the in-memory log: filters by action,
// decision and citizen hash; the cursor is the next index.
func (m *memLog) Search(_ context.Context, q auditlog.Query) (*auditlog.Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := 0
	if q.Cursor != "" {
		n, err := strconv.Atoi(q.Cursor)
		if err != nil {
			return nil, &auditlog.QueryError{Field: "cursor", Reason: "malformed cursor"}
		}
		start = n
	}
	page := &auditlog.Page{}
	for i := start; i < len(m.entries); i++ {
		e := m.entries[i]
		if e.Action != q.Action || e.Decision != q.Decision || e.CitizenHash != q.CitizenHash {
			continue
		}
		if len(page.Entries) == q.Limit {
			page.Next = strconv.Itoa(i)
			break
		}
		page.Entries = append(page.Entries, e)
	}
	return page, nil
}

// ledgerHandler is the mux l mounts itself on.
func ledgerHandler(l *Ledger) http.Handler {
	mux := http.NewServeMux()
	l.Routes(mux)
	return mux
}

type fixedSession struct{ who *authn.SignedInCitizen }

func (f fixedSession) SignedIn(*http.Request) (*authn.SignedInCitizen, error) { return f.who, nil }

func TestAccessLog(t *testing.T) {
	e := newEnv(t)
	pseud := ident.Pseudonym(citizenKey, idNumber)
	// Three calls naming the citizen (by ID number), one for someone else,
	// and one denied call about the citizen.
	for i := 0; i < 3; i++ {
		if w := e.call(t, "tax", "GET", "/gw/renshe/v1/insurance/"+idNumber, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, ""); w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		<-e.hits
		<-e.bodies
	}
	e.call(t, "tax", "GET", "/gw/renshe/v1/insurance/110101199003077774", map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, "")
	<-e.hits
	<-e.bodies
	e.call(t, "tax", "GET", "/gw/renshe/v1/insurance/"+idNumber, nil, "")

	reg := e.g.cfg.Registry
	h := ledgerHandler(&Ledger{Sessions: fixedSession{&authn.SignedInCitizen{UserID: "u-1", CitizenIDPseudonym: pseud}}, Log: e.log, Key: citizenKey, Registry: reg, Policy: e.engine})
	get := func(q string) (int, AccessLog) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/me/v1/access-log"+q, nil))
		var l AccessLog
		json.Unmarshal(w.Body.Bytes(), &l)
		return w.Code, l
	}
	code, page := get("?limit=2")
	if code != 200 || len(page.Accesses) != 2 || page.NextCursor == "" {
		t.Fatalf("%d %+v", code, page)
	}
	a := page.Accesses[0]
	if a.Department != "tax" || a.DepartmentName != "税务局" || a.TargetDepartment != "renshe" || a.Resource != "renshe.social-insurance" ||
		a.ResourceName != "社会保险参保缴费信息" || a.Purpose != "P-IIT-VERIFY" || a.Time.After(time.Now()) {
		t.Fatalf("access %+v", a)
	}
	code, rest := get("?limit=2&cursor=" + page.NextCursor)
	if code != 200 || len(rest.Accesses) != 1 || rest.NextCursor != "" {
		t.Fatalf("second page %d %+v", code, rest)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?cursor=AAAA", "?cursor=bm90LWpzb24", "?other=1", "?limit=1&limit=2"} {
		if code, _ := get(q); code != 400 {
			t.Errorf("%s: %d", q, code)
		}
	}
	anon := ledgerHandler(&Ledger{Sessions: fixedSession{nil}, Log: e.log, Key: citizenKey, Registry: reg, Policy: e.engine})
	w := httptest.NewRecorder()
	anon.ServeHTTP(w, httptest.NewRequest("GET", "/me/v1/access-log", nil))
	if w.Code != 401 {
		t.Fatalf("no session: %d", w.Code)
	}
}
