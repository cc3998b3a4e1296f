package console

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/proof"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/timestamp"
	"github.com/tongxing/tongxing/web"
)

func (c *Console) auditRoutes(h func(string, http.HandlerFunc)) {
	aud := func(f guarded) http.HandlerFunc { return c.need(access.RoleAuditor, f) }
	h("GET /audit", aud(c.auditSearch))
	h("GET /audit/entries/{index}", aud(c.auditEntry))
	h("GET /audit/export", aud(c.auditExport))
	h("GET /audit/checkpoints", aud(c.auditCheckpoints))
	h("GET /audit/charts", aud(c.auditCharts))
}

// searchForm is the audit search as the form holds it.
type searchForm struct {
	From, To, Department, Actor, Action, Decision, Citizen, Cursor string
}

// query turns the form into an audit query (times in China Standard
// Time, as the form shows them).
func (f searchForm) query() (auditlog.Query, error) {
	q := auditlog.Query{Department: f.Department, Actor: f.Actor, Action: f.Action, Decision: f.Decision, Cursor: f.Cursor, Limit: 50}
	for _, t := range []struct {
		v   string
		dst *time.Time
	}{{f.From, &q.From}, {f.To, &q.To}} {
		if t.v == "" {
			continue
		}
		v, err := time.ParseInLocation("2006-01-02T15:04", t.v, cst)
		if err != nil {
			return q, fmt.Errorf("%q is not a date and time", t.v)
		}
		*t.dst = v
	}
	// The log hashes the citizen's account identifier with its citizen key.
	q.CitizenSubject = f.Citizen
	return q, nil
}

func (f searchForm) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"from": f.From, "to": f.To, "department": f.Department, "actor": f.Actor,
		"action": f.Action, "decision": f.Decision, "citizen": f.Citizen} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

var cst = time.FixedZone("CST", 8*3600)

func readSearch(r *http.Request) searchForm {
	q := r.URL.Query()
	get := func(k string) string { return truncate(strings.TrimSpace(q.Get(k)), 256) }
	return searchForm{From: get("from"), To: get("to"), Department: get("department"), Actor: get("actor"),
		Action: get("action"), Decision: get("decision"), Citizen: get("citizen"), Cursor: get("cursor")}
}

type searchView struct {
	Form        searchForm
	Departments [][2]string
	Entries     []auditlog.Entry
	NextURL     string
	ExportURL   string
	Searched    bool
}

func (c *Console) departments(lang string) [][2]string {
	var out [][2]string
	for _, d := range c.d.Registry.All() {
		out = append(out, [2]string{d.ID, c.deptName(lang, d.ID)})
	}
	return out
}

// auditSearch is the audit log search: filters, a page of entries, the
// next page, and the export of every entry the filters select.
func (c *Console) auditSearch(w http.ResponseWriter, r *http.Request, s *session) {
	f := readSearch(r)
	v := &searchView{Form: f, Departments: c.departments(langOf(r)), Searched: len(r.URL.Query()) > 0}
	p := c.page(s, "console.audit.title", "/audit")
	p.Data = v
	q, err := f.query()
	if err == nil {
		var res *auditlog.Page
		if res, err = c.d.Audit.Search(r.Context(), q); err == nil {
			v.Entries = res.Entries
			if res.Next != "" {
				nv := f.values()
				nv.Set("cursor", res.Next)
				v.NextURL = c.prefix + "/audit?" + nv.Encode()
			}
			v.ExportURL = c.prefix + "/audit/export?" + f.values().Encode()
		}
	}
	var qe *auditlog.QueryError
	switch {
	case err == nil:
	case errors.As(err, &qe) || strings.Contains(err.Error(), "not a date"):
		p.Error = err.Error()
		c.render(w, r, http.StatusBadRequest, "audit", p)
		return
	default:
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	c.render(w, r, http.StatusOK, "audit", p)
}

// langOf is the page language of r.
func langOf(r *http.Request) string { return web.Lang(r) }

// entryView is an entry and what the server checked of it.
type entryView struct {
	Entry      auditlog.Entry
	Canonical  string
	LeafHash   string
	Checkpoint *auditlog.Checkpoint
	Root       string
	Proof      []string
	// Verified: the inclusion proof leads from the entry's leaf hash to
	// the root of a checkpoint whose signature the server verified.
	Verified bool
	Problem  string
	// Stamp is the checkpoint's timestamp token, verified.
	Stamp      *timestamp.Info
	StampError string
	// EntryStamp is the entry's own timestamp token, verified against the
	// TSA roots and the entry's request digest; EntryStampError says why
	// it is not shown ("" and nil: the entry references none).
	EntryStamp      *timestamp.Info
	EntryStampError string
	BundleURL       string
	Decision        string
}

// auditEntry shows one entry with its inclusion proof against the latest
// signed checkpoint, checked by the server, and the checkpoint's
// timestamp.
func (c *Console) auditEntry(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	index, err := strconv.ParseUint(r.PathValue("index"), 10, 63)
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "console.err.index", nil)
		return
	}
	e, err := c.d.Audit.Entry(ctx, index)
	if errors.Is(err, auditlog.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "console.err.notfound", nil)
		return
	}
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	v := &entryView{Entry: e}
	raw, err := e.MarshalCanonical()
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	v.Canonical = string(raw)
	leaf := auditlog.Hasher{}.HashLeaf(raw)
	v.LeafHash = hex.EncodeToString(leaf)
	c.checkInclusion(r, v, index, leaf)
	v.EntryStamp, v.EntryStampError = c.entryStamp(r, e)
	v.BundleURL = fmt.Sprintf("%s/audit/export?index=%d", c.prefix, index)
	p := c.page(s, "console.entry.title", "/audit")
	p.Data = v
	c.render(w, r, http.StatusOK, "entry", p)
}

// entryStamp reads and verifies the timestamp token e references: signed
// by a TSA that chains to the TSA roots, over e's request digest, with the
// serial number e names. The string is a message key or a verifier's error.
func (c *Console) entryStamp(r *http.Request, e auditlog.Entry) (*timestamp.Info, string) {
	if e.TimestampToken == "" {
		return nil, ""
	}
	der, err := c.d.Audit.Token(r.Context(), e.TimestampToken)
	if errors.Is(err, auditlog.ErrNotFound) {
		return nil, "console.entry.nostamp"
	}
	if err != nil {
		c.d.Logger.ErrorContext(r.Context(), "console: timestamp token", "ref", e.TimestampToken, "err", err)
		return nil, "console.err.internal"
	}
	digest, err := hex.DecodeString(e.RequestDigest)
	if err != nil || len(digest) == 0 {
		return nil, "console.entry.nodigest"
	}
	info, err := timestamp.VerifyToken(der, timestamp.VerifyOptions{Digest: digest, Roots: c.d.TSARoots})
	if err != nil {
		return nil, err.Error()
	}
	if "tsa:serial:"+info.SerialNumber.Text(16) != e.TimestampToken {
		return nil, "console.entry.otherstamp"
	}
	return info, ""
}

// checkInclusion fills v's proof and verdict.
func (c *Console) checkInclusion(r *http.Request, v *entryView, index uint64, leaf []byte) {
	ctx := r.Context()
	cp, err := c.d.Audit.LatestCheckpoint(ctx)
	if err != nil {
		v.Problem = "console.entry.nocheckpoint"
		return
	}
	opened, err := auditlog.OpenCheckpoint(cp.Note, c.d.Checkpoints)
	if err != nil {
		v.Problem = "console.entry.badcheckpoint"
		return
	}
	opened.Time, opened.Timestamp = cp.Time, cp.Timestamp
	v.Checkpoint, v.Root = opened, hex.EncodeToString(opened.Root)
	if len(cp.Timestamp) > 0 {
		info, err := timestamp.Verify(cp.Timestamp, cp.Note, c.d.TSARoots)
		if err != nil {
			v.StampError = err.Error()
		} else {
			v.Stamp = info
		}
	}
	if index >= opened.Size {
		v.Problem = "console.entry.notyet"
		return
	}
	path, err := c.d.Audit.InclusionProof(ctx, index, opened.Size)
	if err != nil {
		v.Problem = "console.entry.noproof"
		return
	}
	for _, h := range path {
		v.Proof = append(v.Proof, hex.EncodeToString(h))
	}
	if err := proof.VerifyInclusion(auditlog.Hasher{}, index, opened.Size, leaf, path, opened.Root); err != nil {
		v.Problem = "console.entry.mismatch"
		return
	}
	v.Verified = true
}

// auditExport streams an evidence bundle (the format of `tongxing audit
// verify-bundle`) of the entries the filters select, or of one entry
// (?index=).
func (c *Console) auditExport(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	f := readSearch(r)
	q, err := f.query()
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, err.Error(), nil)
		return
	}
	name := "audit-bundle.jsonl"
	if idx := r.URL.Query().Get("index"); idx != "" {
		n, err := strconv.ParseUint(idx, 10, 63)
		if err != nil {
			c.fail(w, r, s, http.StatusBadRequest, "console.err.index", nil)
			return
		}
		e, err := c.d.Audit.Entry(ctx, n)
		if err != nil {
			c.fail(w, r, s, http.StatusNotFound, "console.err.notfound", nil)
			return
		}
		// The entry's own instant, and its actor and action, select it.
		q = auditlog.Query{From: e.Time, To: e.Time.Add(time.Nanosecond), Actor: e.Actor.Subject, Action: e.Action}
		name = fmt.Sprintf("audit-entry-%d.jsonl", n)
	}
	probe := q
	probe.Limit = 1
	if _, err := c.d.Audit.Search(ctx, probe); err != nil {
		c.fail(w, r, s, http.StatusBadRequest, err.Error(), nil)
		return
	}
	if _, err := c.d.Audit.LatestCheckpoint(ctx); err != nil {
		c.fail(w, r, s, http.StatusConflict, "console.entry.nocheckpoint", nil)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/jsonl; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// Streamed: a failure half-way leaves the bundle without its end line,
	// which every reader refuses as truncated.
	if _, err := c.d.Audit.Export(ctx, w, q); err != nil {
		c.d.Logger.ErrorContext(ctx, "console: export", "err", err)
	}
}

// auditCheckpoints lists signed checkpoints, newest first.
func (c *Console) auditCheckpoints(w http.ResponseWriter, r *http.Request, s *session) {
	before, _ := strconv.ParseUint(r.URL.Query().Get("before"), 10, 63)
	cps, err := c.d.Audit.Checkpoints(r.Context(), before, 50)
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	type row struct {
		CP       *auditlog.Checkpoint
		Root     string
		Verified bool
		Stamp    *timestamp.Info
	}
	var rows []row
	for _, cp := range cps {
		rw := row{CP: cp, Root: hex.EncodeToString(cp.Root)}
		if _, err := auditlog.OpenCheckpoint(cp.Note, c.d.Checkpoints); err == nil {
			rw.Verified = true
		}
		if len(cp.Timestamp) > 0 {
			if info, err := timestamp.Verify(cp.Timestamp, cp.Note, c.d.TSARoots); err == nil {
				rw.Stamp = info
			}
		}
		rows = append(rows, rw)
	}
	next := ""
	if len(cps) == 50 {
		next = fmt.Sprintf("%s/audit/checkpoints?before=%d", c.prefix, cps[len(cps)-1].Size)
	}
	p := c.page(s, "console.checkpoints.title", "/audit/checkpoints")
	p.Data = map[string]any{"Rows": rows, "Next": next}
	c.render(w, r, http.StatusOK, "checkpoints", p)
}
