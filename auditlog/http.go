package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tongxing/tongxing/problem"
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

// Handler returns the security officers' HTTP API:
//
//	GET /audit/v1/checkpoint                   newest signed checkpoint (text/plain signed note)
//	GET /audit/v1/entries?from=&to=&actor=&department=&action=&decision=&subject=&subject_hash=&limit=&cursor=
//	GET /audit/v1/entries/{index}?size=        entry with its inclusion proof
//	GET /audit/v1/proof/consistency?old=&new=  consistency proof
//	GET /audit/v1/export?<search filters>      evidence bundle (JSON lines)
//
// from and to are RFC 3339 times. Authentication is the caller's job: a
// request for which officer returns false is refused with 401. Every read,
// successful or not, is appended to the log before the response is sent
// (for export, before streaming starts); if that append fails the request
// fails with 500 and no log data is returned. Errors are RFC 9457 problem
// details; bad or unknown query parameters are 400. logger may be nil.
func Handler(l *Log, officer OfficerFunc, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &api{log: l, officer: officer, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /audit/v1/checkpoint", h.checkpoint)
	mux.HandleFunc("GET /audit/v1/entries", h.search)
	mux.HandleFunc("GET /audit/v1/entries/{index}", h.entry)
	mux.HandleFunc("GET /audit/v1/proof/consistency", h.consistency)
	mux.HandleFunc("GET /audit/v1/export", h.export)
	return mux
}

type api struct {
	log     *Log
	officer OfficerFunc
	logger  *slog.Logger
}

// begin authenticates the request.
func (h *api) begin(w http.ResponseWriter, r *http.Request) (Actor, bool) {
	who, ok := h.officer(r)
	if !ok {
		problem.Write(w, problem.New(http.StatusUnauthorized, "a security officer must be authenticated"))
		return Actor{}, false
	}
	if who.SourceAddr == "" {
		who.SourceAddr = r.RemoteAddr
	}
	return who, true
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

// record appends the audit entry of a read; it reports whether the response
// may be sent.
func (h *api) record(w http.ResponseWriter, r *http.Request, who Actor, action string, start time.Time, status int) bool {
	e := Entry{
		Actor:   who,
		Action:  action,
		Object:  Object{Resource: h.resource(r)},
		Outcome: strconv.Itoa(status),
		Latency: time.Since(start),
	}
	if _, err := h.log.Append(context.WithoutCancel(r.Context()), e); err != nil {
		h.logger.ErrorContext(r.Context(), "audit: cannot record a read of the audit log; refusing it", "action", action, "err", err)
		problem.Write(w, problem.New(http.StatusInternalServerError, "the read could not be recorded in the audit log"))
		return false
	}
	return true
}

// resource describes the request for the audit entry of a read. A citizen
// subject is replaced by its hash (or dropped without a citizen key) so that
// the log never holds it in clear.
func (h *api) resource(r *http.Request) string {
	q := r.URL.Query()
	if s := q.Get("subject"); s != "" {
		q.Del("subject")
		if len(h.log.opts.citizenKey) > 0 {
			q.Set("subject_hash", CitizenHash(h.log.opts.citizenKey, s))
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

// fail answers with a problem after recording the failed read.
func (h *api) fail(w http.ResponseWriter, r *http.Request, who Actor, action string, start time.Time, err error) {
	p := problemFor(err)
	if p.Status >= 500 {
		h.logger.ErrorContext(r.Context(), "audit API request failed", "path", r.URL.Path, "err", err)
	}
	if !h.record(w, r, who, action, start, p.Status) {
		return
	}
	p.Instance = r.URL.Path
	problem.Write(w, p)
}

func problemFor(err error) *problem.Details {
	var qe *QueryError
	switch {
	case errors.As(err, &qe):
		p := problem.New(http.StatusBadRequest, qe.Error())
		p.Field = qe.Field
		p.InvalidParams = []problem.InvalidParam{{Name: qe.Field, Reason: qe.Reason}}
		return p
	case errors.Is(err, ErrNotFound):
		return problem.New(http.StatusNotFound, err.Error())
	}
	return problem.New(http.StatusInternalServerError, "internal error")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // keeps the canonical entry bytes verbatim
	_ = enc.Encode(v)
}

func (h *api) checkpoint(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	who, ok := h.begin(w, r)
	if !ok {
		return
	}
	if err := checkParams(r); err != nil {
		h.fail(w, r, who, ActionReadCheckpoint, start, err)
		return
	}
	cp, err := h.log.LatestCheckpoint(r.Context())
	if err != nil {
		h.fail(w, r, who, ActionReadCheckpoint, start, err)
		return
	}
	if !h.record(w, r, who, ActionReadCheckpoint, start, http.StatusOK) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(cp.Note)
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

func (h *api) search(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	who, ok := h.begin(w, r)
	if !ok {
		return
	}
	q, err := parseQuery(r, true)
	if err != nil {
		h.fail(w, r, who, ActionSearch, start, err)
		return
	}
	page, err := h.log.Search(r.Context(), q)
	if err != nil {
		h.fail(w, r, who, ActionSearch, start, err)
		return
	}
	out := struct {
		Entries    []json.RawMessage `json:"entries"`
		NextCursor string            `json:"next_cursor,omitempty"`
	}{Entries: make([]json.RawMessage, 0, len(page.Entries)), NextCursor: page.Next}
	for _, e := range page.Entries {
		raw, err := e.MarshalCanonical()
		if err != nil {
			h.fail(w, r, who, ActionSearch, start, err)
			return
		}
		out.Entries = append(out.Entries, raw)
	}
	if !h.record(w, r, who, ActionSearch, start, http.StatusOK) {
		return
	}
	writeJSON(w, out)
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

func (h *api) entry(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	who, ok := h.begin(w, r)
	if !ok {
		return
	}
	if err := checkParams(r, "size"); err != nil {
		h.fail(w, r, who, ActionReadEntry, start, err)
		return
	}
	index, err := strconv.ParseUint(r.PathValue("index"), 10, 63)
	if err != nil {
		h.fail(w, r, who, ActionReadEntry, start, &QueryError{Field: "index", Reason: "not a non-negative integer"})
		return
	}
	size, haveSize, err := parseUint(r.URL.Query(), "size")
	if err != nil {
		h.fail(w, r, who, ActionReadEntry, start, err)
		return
	}
	ctx := r.Context()
	e, err := h.log.Entry(ctx, index)
	if err != nil {
		h.fail(w, r, who, ActionReadEntry, start, err)
		return
	}
	raw, err := e.MarshalCanonical()
	if err != nil {
		h.fail(w, r, who, ActionReadEntry, start, err)
		return
	}
	resp := EntryResponse{Index: index, Entry: raw}
	var cp *Checkpoint
	if haveSize {
		if cp, err = h.log.CheckpointAt(ctx, size); err != nil && !errors.Is(err, ErrNotFound) {
			h.fail(w, r, who, ActionReadEntry, start, err)
			return
		}
	} else {
		if cp, err = h.log.LatestCheckpoint(ctx); err != nil && !errors.Is(err, ErrNotFound) {
			h.fail(w, r, who, ActionReadEntry, start, err)
			return
		}
		if cp != nil {
			size = cp.Size
		}
	}
	if cp != nil {
		resp.Checkpoint = string(cp.Note)
	}
	if (haveSize || cp != nil) && index < size {
		p, err := h.log.InclusionProof(ctx, index, size)
		if err != nil {
			h.fail(w, r, who, ActionReadEntry, start, err)
			return
		}
		resp.TreeSize, resp.Proof = size, p
		if resp.Proof == nil {
			resp.Proof = [][]byte{}
		}
	} else if haveSize {
		h.fail(w, r, who, ActionReadEntry, start, &QueryError{Field: "size", Reason: fmt.Sprintf("entry %d is not in a tree of size %d", index, size)})
		return
	} else {
		resp.Checkpoint = "" // no checkpoint covers the entry yet
	}
	if !h.record(w, r, who, ActionReadEntry, start, http.StatusOK) {
		return
	}
	writeJSON(w, resp)
}

// ConsistencyResponse is the body of GET /audit/v1/proof/consistency.
type ConsistencyResponse struct {
	Old   uint64   `json:"old"`
	New   uint64   `json:"new"`
	Proof [][]byte `json:"proof"`
}

func (h *api) consistency(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	who, ok := h.begin(w, r)
	if !ok {
		return
	}
	if err := checkParams(r, "old", "new"); err != nil {
		h.fail(w, r, who, ActionReadConsistency, start, err)
		return
	}
	v := r.URL.Query()
	old, okOld, err := parseUint(v, "old")
	if err == nil && !okOld {
		err = &QueryError{Field: "old", Reason: "required"}
	}
	if err != nil {
		h.fail(w, r, who, ActionReadConsistency, start, err)
		return
	}
	newSize, okNew, err := parseUint(v, "new")
	if err == nil && !okNew {
		err = &QueryError{Field: "new", Reason: "required"}
	}
	if err != nil {
		h.fail(w, r, who, ActionReadConsistency, start, err)
		return
	}
	p, err := h.log.ConsistencyProof(r.Context(), old, newSize)
	if err != nil {
		h.fail(w, r, who, ActionReadConsistency, start, err)
		return
	}
	if p == nil {
		p = [][]byte{}
	}
	if !h.record(w, r, who, ActionReadConsistency, start, http.StatusOK) {
		return
	}
	writeJSON(w, ConsistencyResponse{Old: old, New: newSize, Proof: p})
}

func (h *api) export(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	who, ok := h.begin(w, r)
	if !ok {
		return
	}
	q, err := parseQuery(r, false)
	if err == nil {
		// Check the filters before anything is streamed.
		probe := q
		probe.Limit = 1
		_, err = h.log.Search(r.Context(), probe)
	}
	if err == nil {
		_, err = h.log.LatestCheckpoint(r.Context())
	}
	if err != nil {
		h.fail(w, r, who, ActionExport, start, err)
		return
	}
	if !h.record(w, r, who, ActionExport, start, http.StatusOK) {
		return
	}
	w.Header().Set("Content-Type", "application/jsonl; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-bundle.jsonl"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if _, err := h.log.Export(r.Context(), w, q); err != nil {
		// Headers are sent; the bundle stays without its end line, which
		// every reader rejects as truncated.
		h.logger.ErrorContext(r.Context(), "audit export failed mid-stream", "err", err)
	}
}
