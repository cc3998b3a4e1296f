package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tongxing/tongxing/endpoint"
)

// Actions recorded for reads through the HTTP API.
const (
	ActionReadCheckpoint  = "audit.checkpoint.read"
	ActionSearch          = "audit.entries.search"
	ActionReadEntry       = "audit.entry.read"
	ActionReadConsistency = "audit.proof.consistency"
	ActionExport          = "audit.export"
)

// OfficerFunc returns the authenticated security officer of a request, as
// established by the caller's authentication middleware; false means the
// request is not authenticated as an officer.
type OfficerFunc func(*http.Request) (Actor, bool)

// API is the security officers' HTTP API of a [Log].
type API struct {
	log     *Log
	guard   func(http.Handler) http.Handler
	officer OfficerFunc
	logger  *slog.Logger
}

// NewAPI returns the security officers' HTTP API of l. guard admits the
// officers who may read the log (nil: every request reaches the API);
// officer names the officer of an admitted request. logger may be nil.
func NewAPI(l *Log, guard func(http.Handler) http.Handler, officer OfficerFunc, logger *slog.Logger) *API {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if guard == nil {
		guard = func(h http.Handler) http.Handler { return h }
	}
	return &API{log: l, guard: guard, officer: officer, logger: logger}
}

// Routes registers the API on mux:
//
//	GET /audit/v1/checkpoint                   newest signed checkpoint (text/plain signed note)
//	GET /audit/v1/entries?from=&to=&actor=&department=&action=&decision=&subject=&subject_hash=&limit=&cursor=
//	GET /audit/v1/entries/{index}?size=        entry with its inclusion proof
//	GET /audit/v1/proof/consistency?old=&new=  consistency proof
//	GET /audit/v1/export?<search filters>      evidence bundle (JSON lines)
//
// from and to are RFC 3339 times. A request for which the officer function
// returns false is refused with 401. Every read, successful or not, is
// appended to the log before the response is sent (for export, before
// streaming starts); if that append fails the request fails with 500 and
// no log data is returned. Errors are RFC 9457 problem details; bad or
// unknown query parameters are 400, entries and checkpoints that do not
// exist 404.
func (a *API) Routes(mux *http.ServeMux) {
	mux.Handle("GET /audit/v1/checkpoint", a.read(ActionReadCheckpoint, a.checkpoint))
	mux.Handle("GET /audit/v1/entries", a.read(ActionSearch, a.search))
	mux.Handle("GET /audit/v1/entries/{index}", a.read(ActionReadEntry, a.entry))
	mux.Handle("GET /audit/v1/proof/consistency", a.read(ActionReadConsistency, a.consistency))
	mux.Handle("GET /audit/v1/export", a.read(ActionExport, a.export))
}

// apiError is an answer of the API about the request rather than the log's
// data.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string   { return e.msg }
func (e *apiError) HTTPStatus() int { return e.status }

var (
	errNoOfficer = &apiError{http.StatusUnauthorized, "a security officer must be authenticated"}
	errNotLogged = &apiError{http.StatusInternalServerError, "the read could not be recorded in the audit log"}
)

// read serves one kind of read: only to officers, and recorded, with the
// status it is answered with, before the answer is written.
func (a *API) read(action string, f func(r *http.Request) (*endpoint.Reply, error)) http.Handler {
	o := &endpoint.Options{Log: a.logger, Before: func(r *http.Request, status int, elapsed time.Duration) error {
		who, ok := a.who(r)
		if !ok {
			return nil // refused unauthenticated; nobody to record
		}
		return a.record(r, who, action, status, elapsed)
	}}
	return a.guard(endpoint.Call(o, func(r *http.Request) (*endpoint.Reply, error) {
		if _, ok := a.who(r); !ok {
			return nil, errNoOfficer
		}
		return f(r)
	}))
}

// who is the officer of r, with the request's source address unless the
// officer function gave one.
func (a *API) who(r *http.Request) (Actor, bool) {
	who, ok := a.officer(r)
	if ok && who.SourceAddr == "" {
		who.SourceAddr = r.RemoteAddr
	}
	return who, ok
}

func checkParams(r *http.Request, allowed ...string) error {
	for k, v := range r.URL.Query() {
		if !slices.Contains(allowed, k) {
			return &QueryError{Field: k, Reason: "unknown query parameter"}
		}
		if len(v) > 1 {
			return &QueryError{Field: k, Reason: "given more than once"}
		}
	}
	return nil
}

// record appends the audit entry of a read.
func (a *API) record(r *http.Request, who Actor, action string, status int, elapsed time.Duration) error {
	e := Entry{
		Actor:   who,
		Action:  action,
		Object:  Object{Resource: a.resource(r)},
		Outcome: strconv.Itoa(status),
		Latency: elapsed,
	}
	if _, err := a.log.Append(context.WithoutCancel(r.Context()), e); err != nil {
		a.logger.ErrorContext(r.Context(), "audit: cannot record a read of the audit log; refusing it", "action", action, "err", err)
		return errNotLogged
	}
	return nil
}

// resource describes the request for the audit entry of a read. A citizen
// subject is replaced by its hash (or dropped without a citizen key) so that
// the log never holds it in clear.
func (a *API) resource(r *http.Request) string {
	q := r.URL.Query()
	if s := q.Get("subject"); s != "" {
		q.Del("subject")
		if len(a.log.opts.citizenKey) > 0 {
			q.Set("subject_hash", CitizenHash(a.log.opts.citizenKey, s))
		}
	}
	res := r.URL.Path
	if enc := q.Encode(); enc != "" {
		res += "?" + enc
	}
	if len(res) > MaxResourceLen {
		res = res[:MaxResourceLen]
		for !utf8.ValidString(res) {
			res = res[:len(res)-1]
		}
	}
	if !utf8.ValidString(res) {
		res = strings.ToValidUTF8(res, "\uFFFD")
	}
	return res
}

// jsonReply is v as compact JSON with HTML characters unescaped, so that
// canonical entries inside it keep their bytes.
func jsonReply(v any) *endpoint.Reply {
	rep := &endpoint.Reply{Write: func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false) // keeps the canonical entry bytes verbatim
		return enc.Encode(v)
	}}
	return rep.With("Content-Type", "application/json").NoStore()
}

func (a *API) checkpoint(r *http.Request) (*endpoint.Reply, error) {
	if err := checkParams(r); err != nil {
		return nil, err
	}
	cp, err := a.log.LatestCheckpoint(r.Context())
	if err != nil {
		return nil, err
	}
	rep := &endpoint.Reply{Write: func(w io.Writer) error {
		_, err := w.Write(cp.Note)
		return err
	}}
	return rep.With("Content-Type", "text/plain; charset=utf-8").NoStore(), nil
}

var searchParams = []string{"from", "to", "actor", "department", "action", "decision", "subject", "subject_hash", "limit", "cursor"}

// parseQuery reads the search filters of a request.
func parseQuery(r *http.Request, withPaging bool) (Query, error) {
	allowed := searchParams
	if !withPaging {
		allowed = searchParams[:len(searchParams)-2]
	}
	if err := checkParams(r, allowed...); err != nil {
		return Query{}, err
	}
	v := r.URL.Query()
	q := Query{
		Actor:          v.Get("actor"),
		Department:     v.Get("department"),
		Action:         v.Get("action"),
		Decision:       v.Get("decision"),
		CitizenSubject: v.Get("subject"),
		CitizenHash:    v.Get("subject_hash"),
		Cursor:         v.Get("cursor"),
	}
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(f.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return Query{}, &QueryError{Field: f.name, Reason: "not an RFC 3339 time"}
			}
			*f.t = t
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxSearchLimit {
			return Query{}, &QueryError{Field: "limit", Reason: fmt.Sprintf("not an integer in 1..%d", MaxSearchLimit)}
		}
		q.Limit = n
	}
	return q, nil
}

func (a *API) search(r *http.Request) (*endpoint.Reply, error) {
	q, err := parseQuery(r, true)
	if err != nil {
		return nil, err
	}
	page, err := a.log.Search(r.Context(), q)
	if err != nil {
		return nil, err
	}
	out := struct {
		Entries    []json.RawMessage `json:"entries"`
		NextCursor string            `json:"next_cursor,omitempty"`
	}{Entries: make([]json.RawMessage, 0, len(page.Entries)), NextCursor: page.Next}
	for _, e := range page.Entries {
		raw, err := e.MarshalCanonical()
		if err != nil {
			return nil, err
		}
		out.Entries = append(out.Entries, raw)
	}
	return jsonReply(out), nil
}

func parseUint(v url.Values, name string) (uint64, bool, error) {
	s := v.Get(name)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, false, &QueryError{Field: name, Reason: "not a non-negative integer"}
	}
	return n, true, nil
}

// EntryResponse is the body of GET /audit/v1/entries/{index}.
type EntryResponse struct {
	Index uint64 `json:"index"`
	// Entry is the canonical encoding, the Merkle leaf.
	Entry json.RawMessage `json:"entry"`
	// TreeSize is the size of the tree the proof is for; 0 with no proof.
	TreeSize uint64 `json:"tree_size"`
	// Checkpoint is the signed checkpoint of TreeSize, if one is stored.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Proof is the RFC 6962 inclusion proof; absent while no checkpoint
	// covers the entry.
	Proof [][]byte `json:"proof,omitempty"`
}

func (a *API) entry(r *http.Request) (*endpoint.Reply, error) {
	if err := checkParams(r, "size"); err != nil {
		return nil, err
	}
	index, err := strconv.ParseUint(r.PathValue("index"), 10, 63)
	if err != nil {
		return nil, &QueryError{Field: "index", Reason: "not a non-negative integer"}
	}
	size, haveSize, err := parseUint(r.URL.Query(), "size")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	e, err := a.log.Entry(ctx, index)
	if err != nil {
		return nil, err
	}
	raw, err := e.MarshalCanonical()
	if err != nil {
		return nil, err
	}
	resp := EntryResponse{Index: index, Entry: raw}
	var cp *Checkpoint
	if haveSize {
		if cp, err = a.log.CheckpointAt(ctx, size); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	} else {
		if cp, err = a.log.LatestCheckpoint(ctx); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if cp != nil {
			size = cp.Size
		}
	}
	if cp != nil {
		resp.Checkpoint = string(cp.Note)
	}
	switch {
	case (haveSize || cp != nil) && index < size:
		p, err := a.log.InclusionProof(ctx, index, size)
		if err != nil {
			return nil, err
		}
		resp.TreeSize, resp.Proof = size, p
		if resp.Proof == nil {
			resp.Proof = [][]byte{}
		}
	case haveSize:
		return nil, &QueryError{Field: "size", Reason: fmt.Sprintf("entry %d is not in a tree of size %d", index, size)}
	default:
		resp.Checkpoint = "" // no checkpoint covers the entry yet
	}
	return jsonReply(resp), nil
}

// ConsistencyResponse is the body of GET /audit/v1/proof/consistency.
type ConsistencyResponse struct {
	Old   uint64   `json:"old"`
	New   uint64   `json:"new"`
	Proof [][]byte `json:"proof"`
}

func (a *API) consistency(r *http.Request) (*endpoint.Reply, error) {
	if err := checkParams(r, "old", "new"); err != nil {
		return nil, err
	}
	v := r.URL.Query()
	old, err := requiredUint(v, "old")
	if err != nil {
		return nil, err
	}
	newSize, err := requiredUint(v, "new")
	if err != nil {
		return nil, err
	}
	p, err := a.log.ConsistencyProof(r.Context(), old, newSize)
	if err != nil {
		return nil, err
	}
	if p == nil {
		p = [][]byte{}
	}
	return jsonReply(ConsistencyResponse{Old: old, New: newSize, Proof: p}), nil
}

// requiredUint is parseUint of a parameter that must be given.
func requiredUint(v url.Values, name string) (uint64, error) {
	n, ok, err := parseUint(v, name)
	if err == nil && !ok {
		err = &QueryError{Field: name, Reason: "required"}
	}
	return n, err
}

func (a *API) export(r *http.Request) (*endpoint.Reply, error) {
	q, err := parseQuery(r, false)
	if err != nil {
		return nil, err
	}
	// Check the filters before anything is streamed.
	probe := q
	probe.Limit = 1
	if _, err := a.log.Search(r.Context(), probe); err != nil {
		return nil, err
	}
	if _, err := a.log.LatestCheckpoint(r.Context()); err != nil {
		return nil, err
	}
	rep := &endpoint.Reply{Write: func(w io.Writer) error {
		// On failure the bundle stays without its end line, which every
		// reader rejects as truncated.
		_, err := a.log.Export(r.Context(), w, q)
		return err
	}}
	rep.With("Content-Type", "application/jsonl; charset=utf-8")
	rep.With("Content-Disposition", `attachment; filename="audit-bundle.jsonl"`)
	return rep.NoStore(), nil
}
