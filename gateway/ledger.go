package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/department"
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

// AccessLogHandler serves GET /me/v1/access-log: the allowed gateway calls
// that concerned the citizen signed in with the request's SSO cookie —
// made for them by token exchange, or naming their ID number in a
// resource's identifying field — read from the audit log (entries of
// action gateway.call, decision allow, with the citizen's hash), oldest
// first within a page. Query: limit (1..1000, default 100) and cursor
// (next_cursor of the previous page). No session: 401. The key is the
// citizen key the gateway hashes with; registry and policy supply names.
func AccessLogHandler(sessions CitizenSessions, log Searcher, key []byte, registry *department.Registry, policy PolicySource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		who, err := sessions.SignedIn(r)
		if err != nil {
			problem.Write(w, problem.New(http.StatusInternalServerError, "temporarily unavailable"))
			return
		}
		if who == nil {
			problem.Write(w, problem.New(http.StatusUnauthorized, "no signed-in session: sign in first"))
			return
		}
		q := r.URL.Query()
		for k, v := range q {
			if (k != "limit" && k != "cursor") || len(v) > 1 {
				p := problem.New(http.StatusBadRequest, "unknown or repeated query parameter "+k)
				p.Field = k
				problem.Write(w, p)
				return
			}
		}
		limit := 100
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > auditlog.MaxSearchLimit {
				p := problem.New(http.StatusBadRequest, "limit: not an integer in 1..1000")
				p.Field = "limit"
				problem.Write(w, p)
				return
			}
			limit = n
		}
		hashes := []string{auditlog.CitizenHash(key, who.UserID)}
		if who.CitizenIDPseudonym != "" {
			hashes = append(hashes, NamedCitizenHash(key, who.CitizenIDPseudonym))
		}
		cursors := make([]string, len(hashes))
		if c := q.Get("cursor"); c != "" {
			b, err := base64.RawURLEncoding.DecodeString(c)
			if err != nil || json.Unmarshal(b, &cursors) != nil || len(cursors) != len(hashes) {
				p := problem.New(http.StatusBadRequest, "cursor: malformed")
				p.Field = "cursor"
				problem.Write(w, p)
				return
			}
		}
		out := AccessLog{Accesses: []Access{}}
		var next []string
		more := false
		var entries []auditlog.Entry
		for i, h := range hashes {
			if cursors[i] == "-" { // that search is exhausted
				next = append(next, "-")
				continue
			}
			page, err := log.Search(r.Context(), auditlog.Query{Action: ActionCall, Decision: auditlog.DecisionAllow, CitizenHash: h, Limit: limit, Cursor: cursors[i]})
			var qe *auditlog.QueryError
			if errors.As(err, &qe) {
				p := problem.New(http.StatusBadRequest, "cursor: "+qe.Reason)
				p.Field = "cursor"
				problem.Write(w, p)
				return
			}
			if err != nil {
				problem.Write(w, problem.New(http.StatusInternalServerError, "temporarily unavailable"))
				return
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
		var pol interface{ Resource(string) string }
		if p := policy.Current(); p != nil {
			pol = resourceNames{p.Catalogue().Resource}
		}
		seen := map[uint64]bool{}
		for _, e := range entries {
			if seen[e.Index] {
				continue
			}
			seen[e.Index] = true
			a := Access{Time: e.Time.UTC(), Department: e.Actor.Department, Caller: e.Actor.Subject, TargetDepartment: e.Object.Department,
				Purpose: e.Purpose, AuditIndex: e.Index}
			a.Resource, _, _ = strings.Cut(e.Object.Resource, " ")
			if d, err := registry.Lookup(a.Department); err == nil {
				a.DepartmentName = d.Name
			}
			if d, err := registry.Lookup(a.TargetDepartment); err == nil {
				a.TargetDepartmentName = d.Name
			}
			if pol != nil {
				a.ResourceName = pol.Resource(a.Resource)
			}
			out.Accesses = append(out.Accesses, a)
		}
		if more {
			b, _ := json.Marshal(next)
			out.NextCursor = base64.RawURLEncoding.EncodeToString(b)
		}
		problem.WriteJSON(w, http.StatusOK, out)
	})
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
