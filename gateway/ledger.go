package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/endpoint"
	"github.com/tongxing/tongxing/problem"
)

// CitizenSessions names the citizen signed in with a request;
// *authn.Provider is one.
type CitizenSessions interface {
	SignedIn(r *http.Request) (*authn.SignedInCitizen, error)
}

// Searcher searches the audit log; *auditlog.Log and *auditlog.Reader are
// ones.
type Searcher interface {
	Search(ctx context.Context, q auditlog.Query) (*auditlog.Page, error)
}

// Access is one allowed gateway call that concerned the citizen.
type Access struct {
	Time                 time.Time `json:"time"`
	Department           string    `json:"department"`
	DepartmentName       string    `json:"department_name,omitempty"`
	Caller               string    `json:"caller"`
	TargetDepartment     string    `json:"target_department"`
	TargetDepartmentName string    `json:"target_department_name,omitempty"`
	Resource             string    `json:"resource"`
	ResourceName         string    `json:"resource_name,omitempty"`
	Purpose              string    `json:"purpose,omitempty"`
	AuditIndex           uint64    `json:"audit_index"`
}

// AccessLog is the body of GET /me/v1/access-log.
type AccessLog struct {
	Accesses   []Access `json:"accesses"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// Ledger serves a citizen the allowed gateway calls that concerned them
// (GET /me/v1/access-log), read from the audit log: there is no second
// store. Its fields are required.
type Ledger struct {
	// Sessions names the citizen signed in with a request.
	Sessions CitizenSessions
	// Log is searched for the entries of action gateway.call, decision
	// allow, with the citizen's hash.
	Log Searcher
	// Key is the citizen key the gateway hashes with.
	Key []byte
	// Registry and Policy supply the names of departments and resources.
	Registry *department.Registry
	Policy   PolicySource
	// Logger receives the causes of 500s (nil: slog.Default()).
	Logger *slog.Logger
}

// Routes registers GET /me/v1/access-log on mux: the allowed gateway calls
// that concerned the citizen signed in with the request's SSO cookie —
// made for them by token exchange, or naming their ID number in a
// resource's identifying field — oldest first within a page. Query: limit
// (1..1000, default 100) and cursor (next_cursor of the previous page). No
// session: 401. Nothing it answers may be cached.
func (l *Ledger) Routes(mux *http.ServeMux) {
	h := endpoint.Call(&endpoint.Options{Log: l.Logger}, l.accessLog)
	mux.Handle("GET /me/v1/access-log", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	}))
}

// errUnavailable hides why the access log cannot be read.
func errUnavailable(cause error) error {
	return &problem.Error{Status: http.StatusInternalServerError, Detail: "temporarily unavailable", Err: cause}
}

func (l *Ledger) accessLog(r *http.Request) (*endpoint.Reply, error) {
	who, err := l.Sessions.SignedIn(r)
	if err != nil {
		return nil, errUnavailable(err)
	}
	if who == nil {
		return nil, &problem.Error{Status: http.StatusUnauthorized, Detail: "no signed-in session: sign in first"}
	}
	hashes := []string{auditlog.CitizenHash(l.Key, who.UserID)}
	if who.CitizenIDPseudonym != "" {
		hashes = append(hashes, NamedCitizenHash(l.Key, who.CitizenIDPseudonym))
	}
	limit, cursors, err := pageQuery(r.URL.Query(), len(hashes))
	if err != nil {
		return nil, err
	}
	entries, next, err := l.search(r.Context(), hashes, cursors, limit)
	if err != nil {
		return nil, err
	}
	out := AccessLog{Accesses: l.accesses(entries)}
	if next != nil {
		b, _ := json.Marshal(next)
		out.NextCursor = base64.RawURLEncoding.EncodeToString(b)
	}
	return endpoint.OK(out), nil
}

// pageQuery reads limit and the cursor, one position per searched hash.
func pageQuery(q url.Values, searches int) (limit int, cursors []string, err error) {
	for k, v := range q {
		if (k != "limit" && k != "cursor") || len(v) > 1 {
			return 0, nil, &problem.Error{Status: http.StatusBadRequest, Field: k, Detail: "unknown or repeated query parameter"}
		}
	}
	limit = 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > auditlog.MaxSearchLimit {
			return 0, nil, &problem.Error{Status: http.StatusBadRequest, Field: "limit", Detail: "not an integer in 1..1000"}
		}
		limit = n
	}
	cursors = make([]string, searches)
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || json.Unmarshal(b, &cursors) != nil || len(cursors) != searches {
			return 0, nil, &problem.Error{Status: http.StatusBadRequest, Field: "cursor", Detail: "malformed"}
		}
	}
	return limit, cursors, nil
}

// search reads one page of allowed calls per citizen hash, from its cursor
// ("-": that search is exhausted), oldest first. next is nil when every
// search is exhausted.
func (l *Ledger) search(ctx context.Context, hashes, cursors []string, limit int) (entries []auditlog.Entry, next []string, err error) {
	more := false
	for i, h := range hashes {
		if cursors[i] == "-" {
			next = append(next, "-")
			continue
		}
		page, err := l.Log.Search(ctx, auditlog.Query{Action: ActionCall, Decision: auditlog.DecisionAllow, CitizenHash: h, Limit: limit, Cursor: cursors[i]})
		var qe *auditlog.QueryError
		if errors.As(err, &qe) {
			return nil, nil, &problem.Error{Status: http.StatusBadRequest, Field: "cursor", Detail: qe.Reason}
		}
		if err != nil {
			return nil, nil, errUnavailable(err)
		}
		entries = append(entries, page.Entries...)
		if page.Next != "" {
			more = true
			next = append(next, page.Next)
		} else {
			next = append(next, "-")
		}
	}
	sort.Slice(entries, func(i, j int) bool {
		if !entries[i].Time.Equal(entries[j].Time) {
			return entries[i].Time.Before(entries[j].Time)
		}
		return entries[i].Index < entries[j].Index
	})
	if !more {
		next = nil
	}
	return entries, next, nil
}

// accesses describes entries (once each) with the names of departments
// and resources.
func (l *Ledger) accesses(entries []auditlog.Entry) []Access {
	var pol interface{ Resource(string) string }
	if p := l.Policy.Current(); p != nil {
		pol = resourceNames{p.Catalogue().Resource}
	}
	out := []Access{}
	seen := map[uint64]bool{}
	for _, e := range entries {
		if seen[e.Index] {
			continue
		}
		seen[e.Index] = true
		a := Access{Time: e.Time.UTC(), Department: e.Actor.Department, Caller: e.Actor.Subject, TargetDepartment: e.Object.Department,
			Purpose: e.Purpose, AuditIndex: e.Index}
		a.Resource, _, _ = strings.Cut(e.Object.Resource, " ")
		if d, err := l.Registry.Lookup(a.Department); err == nil {
			a.DepartmentName = d.Name
		}
		if d, err := l.Registry.Lookup(a.TargetDepartment); err == nil {
			a.TargetDepartmentName = d.Name
		}
		if pol != nil {
			a.ResourceName = pol.Resource(a.Resource)
		}
		out = append(out, a)
	}
	return out
}

type resourceNames struct {
	lookup func(string) *authzResource
}

func (n resourceNames) Resource(id string) string {
	if r := n.lookup(id); r != nil {
		return r.Name
	}
	return ""
}
