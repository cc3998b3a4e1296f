package auditlog

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/transparency-dev/merkle/proof"

	"github.com/tongxing/tongxing/store"
)

// ErrNotFound is returned (wrapped) when an entry or checkpoint does not
// exist; the error that wraps it is a 404 on HTTP.
var ErrNotFound = errors.New("auditlog: not found")

// QueryError reports an invalid search, proof or export parameter. On
// HTTP it is a 400 naming the parameter.
type QueryError struct {
	Field  string // the parameter at fault, e.g. "from"
	Reason string
}

// Error returns "auditlog: <field>: <reason>".
func (e *QueryError) Error() string { return "auditlog: " + e.Field + ": " + e.Reason }

// HTTPStatus is 400 Bad Request.
func (e *QueryError) HTTPStatus() int { return http.StatusBadRequest }

// FieldName returns the parameter at fault.
func (e *QueryError) FieldName() string { return e.Field }

// notFoundError says what the log does not hold; it wraps [ErrNotFound].
type notFoundError struct{ what string }

func (e *notFoundError) Error() string   { return ErrNotFound.Error() + ": " + e.what }
func (e *notFoundError) Unwrap() error   { return ErrNotFound }
func (e *notFoundError) HTTPStatus() int { return http.StatusNotFound }

// notFound is the one not-found error of the log: an entry or a checkpoint
// it does not hold (a 404 on HTTP).
func notFound(format string, args ...any) error {
	return &notFoundError{what: fmt.Sprintf(format, args...)}
}

// Reader reads the log: entries, search, proofs, checkpoints, export and
// verification. It never writes and needs no signing key, so command-line
// tools use it without starting a sequencer. It is safe for concurrent use.
type Reader struct {
	db   *store.DB
	opts options
}

// NewReader returns a reader of the log in db. Of the options only
// WithCitizenKey, WithMaxExport, WithLogger and WithClock apply.
func NewReader(db *store.DB, opts ...Option) *Reader {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return &Reader{db: db, opts: o}
}

// TreeSize returns the number of integrated entries.
func (r *Reader) TreeSize(ctx context.Context) (uint64, error) {
	var size int64
	err := r.db.QueryRow(ctx, "SELECT size FROM audit_tree WHERE id = 1").Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("auditlog: read tree size: %w", err)
	}
	return uint64(size), nil
}

// LatestCheckpoint returns the newest stored checkpoint, or an error wrapping
// ErrNotFound if none has been published. It parses but does NOT verify the
// signatures; see [OpenCheckpoint] and [Reader.Verify].
func (r *Reader) LatestCheckpoint(ctx context.Context) (*Checkpoint, error) {
	return r.checkpoint(ctx, "SELECT size, time_ns, note, tst FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
}

// CheckpointAt returns the stored checkpoint of the given size, or an error
// wrapping ErrNotFound. Like LatestCheckpoint it does NOT verify signatures.
func (r *Reader) CheckpointAt(ctx context.Context, size uint64) (*Checkpoint, error) {
	return r.checkpoint(ctx, "SELECT size, time_ns, note, tst FROM audit_checkpoints WHERE size = ?", int64(size))
}

// Checkpoints returns up to limit (1..1000) stored checkpoints smaller than
// before (0: no bound), largest first: the history an auditor reviews. Like
// LatestCheckpoint it does NOT verify signatures.
func (r *Reader) Checkpoints(ctx context.Context, before uint64, limit int) ([]*Checkpoint, error) {
	if limit < 1 || limit > 1000 {
		return nil, &QueryError{Field: "limit", Reason: fmt.Sprintf("limit %d is outside 1..1000", limit)}
	}
	if before == 0 || before > math.MaxInt64 {
		before = math.MaxInt64
	}
	rows, err := r.db.Query(ctx, "SELECT size FROM audit_checkpoints WHERE size < ? ORDER BY size DESC LIMIT ?", int64(before), limit)
	if err != nil {
		return nil, fmt.Errorf("auditlog: list checkpoints: %w", err)
	}
	var sizes []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("auditlog: list checkpoints: %w", err)
		}
		sizes = append(sizes, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditlog: list checkpoints: %w", err)
	}
	out := make([]*Checkpoint, 0, len(sizes))
	for _, n := range sizes {
		cp, err := r.CheckpointAt(ctx, uint64(n))
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	return out, nil
}

func (r *Reader) checkpoint(ctx context.Context, query string, args ...any) (*Checkpoint, error) {
	var (
		size, ns int64
		msg      string
		tst      []byte
	)
	err := r.db.QueryRow(ctx, query, args...).Scan(&size, &ns, &msg, &tst)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("no checkpoint")
	}
	if err != nil {
		return nil, fmt.Errorf("auditlog: read checkpoint: %w", err)
	}
	cp, err := parseCheckpointBody([]byte(msg))
	if err != nil {
		return nil, err
	}
	if cp.Size != uint64(size) {
		return nil, &IntegrityError{Index: min(cp.Size, uint64(size)), Reason: fmt.Sprintf("checkpoint stored as size %d says size %d", size, cp.Size)}
	}
	cp.Time = time.Unix(0, ns).UTC()
	cp.Timestamp = tst
	return cp, nil
}

// Entry returns the entry at index, or an error wrapping ErrNotFound. An
// entry whose stored encoding does not parse, or names another index, is an
// *IntegrityError.
func (r *Reader) Entry(ctx context.Context, index uint64) (Entry, error) {
	var body []byte
	err := r.db.QueryRow(ctx, "SELECT body FROM audit_entries WHERE idx = ?", int64(index)).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, notFound("entry %d", index)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("auditlog: read entry %d: %w", index, err)
	}
	return decodeStored(index, body)
}

func decodeStored(index uint64, body []byte) (Entry, error) {
	e, err := ParseEntry(body)
	if err != nil {
		return Entry{}, &IntegrityError{Index: index, Reason: "stored entry does not parse", Err: err}
	}
	if e.Index != index {
		return Entry{}, &IntegrityError{Index: index, Reason: fmt.Sprintf("stored entry says index %d", e.Index)}
	}
	return e, nil
}

// Entries returns up to limit entries with index >= start, in index order.
// limit is clamped to 1..MaxSearchLimit.
func (r *Reader) Entries(ctx context.Context, start uint64, limit int) ([]Entry, error) {
	limit = clampLimit(limit)
	return r.queryEntries(ctx, "SELECT idx, body FROM audit_entries WHERE idx >= ? ORDER BY idx LIMIT ?", int64(start), limit)
}

// Tail returns the last n entries (n clamped to 1..MaxSearchLimit) in index
// order.
func (r *Reader) Tail(ctx context.Context, n int) ([]Entry, error) {
	n = clampLimit(n)
	size, err := r.TreeSize(ctx)
	if err != nil {
		return nil, err
	}
	start := uint64(0)
	if size > uint64(n) {
		start = size - uint64(n)
	}
	return r.queryEntries(ctx, "SELECT idx, body FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx", int64(start), int64(size))
}

// Follow calls fn for every entry with index >= start in index order, then
// keeps polling for new entries every interval until ctx ends or fn returns
// an error. It returns ctx's error or fn's.
func (r *Reader) Follow(ctx context.Context, start uint64, interval time.Duration, fn func(Entry) error) error {
	if interval <= 0 {
		interval = time.Second
	}
	for {
		es, err := r.Entries(ctx, start, MaxSearchLimit)
		if err != nil {
			return err
		}
		for _, e := range es {
			if err := fn(e); err != nil {
				return err
			}
			start = e.Index + 1
		}
		if len(es) == MaxSearchLimit {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func clampLimit(n int) int {
	if n <= 0 {
		return DefaultSearchLimit
	}
	return min(n, MaxSearchLimit)
}

func (r *Reader) queryEntries(ctx context.Context, query string, args ...any) ([]Entry, error) {
	rows, err := r.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("auditlog: read entries: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var idx int64
		var body []byte
		if err := rows.Scan(&idx, &body); err != nil {
			return nil, fmt.Errorf("auditlog: read entries: %w", err)
		}
		e, err := decodeStored(uint64(idx), body)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditlog: read entries: %w", err)
	}
	return out, nil
}

// InclusionProof returns the RFC 6962 inclusion proof of the entry at index
// in the tree of the given size (index < size <= TreeSize), built with
// transparency-dev/merkle's proof package from stored nodes.
func (r *Reader) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	if err := r.checkSize(ctx, "size", size); err != nil {
		return nil, err
	}
	if index >= size {
		return nil, &QueryError{Field: "index", Reason: fmt.Sprintf("index %d is not below tree size %d", index, size)}
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, &QueryError{Field: "index", Reason: err.Error()}
	}
	return buildProof(ctx, r.db, nodes)
}

// ConsistencyProof returns the RFC 6962 consistency proof between the trees
// of sizes old and new (old <= new <= TreeSize).
func (r *Reader) ConsistencyProof(ctx context.Context, old, new uint64) ([][]byte, error) {
	if err := r.checkSize(ctx, "new", new); err != nil {
		return nil, err
	}
	if old > new {
		return nil, &QueryError{Field: "old", Reason: fmt.Sprintf("old size %d exceeds new size %d", old, new)}
	}
	nodes, err := proof.Consistency(old, new)
	if err != nil {
		return nil, &QueryError{Field: "old", Reason: err.Error()}
	}
	return buildProof(ctx, r.db, nodes)
}

func (r *Reader) checkSize(ctx context.Context, field string, size uint64) error {
	ts, err := r.TreeSize(ctx)
	if err != nil {
		return err
	}
	if size > ts {
		return &QueryError{Field: field, Reason: fmt.Sprintf("tree size %d exceeds the log's %d entries", size, ts)}
	}
	return nil
}

// Query selects entries for [Reader.Search]. Zero fields do not filter.
// Results are ordered by (Time, Index).
type Query struct {
	// From and To bound Time: From <= Time < To.
	From, To time.Time
	// Actor matches Actor.Subject exactly.
	Actor string
	// Department matches Actor.Department or Object.Department exactly.
	Department string
	// Action matches Action exactly.
	Action string
	// Decision matches Decision: DecisionAllow or DecisionDeny.
	Decision string
	// CitizenHash matches CitizenHash (64 lower-case hex digits).
	CitizenHash string
	// CitizenSubject is hashed with the key of WithCitizenKey and matched
	// like CitizenHash. It is an error without that key.
	CitizenSubject string
	// Limit is the page size: default DefaultSearchLimit, at most
	// MaxSearchLimit.
	Limit int
	// Cursor continues a previous search with the same filters; it is the
	// Next value of the previous Page.
	Cursor string
}

// Page is one page of search results.
type Page struct {
	Entries []Entry
	// Next is the cursor of the following page, empty on the last page.
	Next string
}

// cursorVersion is the first byte of every cursor.
const cursorVersion = 1

// Search returns the entries matching q, one page at a time. Every filter is
// served by an index of the search table, and the few entries sequenced
// since it was last extended are read directly; paging is by keyset, so
// deep pages cost the same as the first.
func (r *Reader) Search(ctx context.Context, q Query) (*Page, error) {
	if q.Limit < 0 || q.Limit > MaxSearchLimit {
		return nil, &QueryError{Field: "limit", Reason: fmt.Sprintf("limit %d is outside 1..%d", q.Limit, MaxSearchLimit)}
	}
	limit := clampLimit(q.Limit)
	if q.Decision != "" && q.Decision != DecisionAllow && q.Decision != DecisionDeny {
		return nil, &QueryError{Field: "decision", Reason: fmt.Sprintf("decision %.40q is not %q or %q", q.Decision, DecisionAllow, DecisionDeny)}
	}
	citizen := q.CitizenHash
	if citizen != "" && (len(citizen) != 2*HashSize || !isLowerHex(citizen)) {
		return nil, &QueryError{Field: "subject_hash", Reason: "not 64 lower-case hex digits"}
	}
	if q.CitizenSubject != "" {
		if len(r.opts.citizenKey) == 0 {
			return nil, &QueryError{Field: "subject", Reason: "search by citizen subject is not configured (no citizen key)"}
		}
		h := CitizenHash(r.opts.citizenKey, q.CitizenSubject)
		if citizen != "" && citizen != h {
			return nil, &QueryError{Field: "subject", Reason: "subject and subject_hash disagree"}
		}
		citizen = h
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, &QueryError{Field: "to", Reason: "to must be after from"}
	}
	for _, f := range []struct{ name, v string }{{"actor", q.Actor}, {"department", q.Department}, {"action", q.Action}} {
		if len(f.v) > MaxFieldLen {
			return nil, &QueryError{Field: f.name, Reason: fmt.Sprintf("longer than %d bytes", MaxFieldLen)}
		}
	}

	var where []string
	var args []any
	if !q.From.IsZero() {
		where, args = append(where, "time_ns >= ?"), append(args, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		where, args = append(where, "time_ns < ?"), append(args, q.To.UnixNano())
	}
	if q.Actor != "" {
		where, args = append(where, "actor_subject = ?"), append(args, q.Actor)
	}
	if q.Action != "" {
		where, args = append(where, "action = ?"), append(args, q.Action)
	}
	if q.Decision != "" {
		where, args = append(where, "decision = ? AND decision <> ''"), append(args, q.Decision)
	}
	if citizen != "" {
		where, args = append(where, "citizen_hash = ? AND citizen_hash <> ''"), append(args, citizen)
	}
	digest := filterDigest(q, citizen)
	if q.Cursor != "" {
		ns, idx, err := decodeCursor(q.Cursor, digest)
		if err != nil {
			return nil, err
		}
		where, args = append(where, "(time_ns, idx) > (?, ?)"), append(args, ns, idx)
	}
	cond := strings.Join(append([]string{"1 = 1"}, where...), " AND ")

	// The indexed prefix of the log (audit_search) and the entries beyond
	// it (a few sequencing intervals' worth, read from audit_entries) each
	// give at most limit+1 candidates per department column. The prefix
	// end is read first: it only grows, so a copy committed in between
	// makes the two parts overlap (IN ignores duplicates) but never leaves
	// a gap, and as a parameter it lets the planner see how short the
	// tail is.
	var indexed sql.NullInt64
	if err := r.db.QueryRow(ctx, "SELECT MAX(idx) FROM audit_search").Scan(&indexed); err != nil {
		return nil, fmt.Errorf("auditlog: search: read the search table: %w", err)
	}
	tailFrom := int64(-1)
	if indexed.Valid {
		tailFrom = indexed.Int64
	}
	sub := "SELECT idx FROM (SELECT idx, time_ns FROM %s WHERE %s" + cond + " ORDER BY time_ns, idx LIMIT ?) %s"
	var parts []string
	var qargs []any
	for _, from := range []struct {
		table, where, alias string
		args                []any
	}{{"audit_search", "", "s", nil}, {"audit_entries", "idx > ? AND ", "t", []any{tailFrom}}} {
		if q.Department == "" {
			parts = append(parts, fmt.Sprintf(sub, from.table, from.where, from.alias))
			qargs = append(append(append(qargs, from.args...), args...), limit+1)
			continue
		}
		for _, col := range []string{"actor_department", "object_department"} {
			parts = append(parts, fmt.Sprintf(sub, from.table, from.where+col+" = ? AND ", from.alias+"_"+col[:1]))
			qargs = append(append(append(append(qargs, from.args...), q.Department), args...), limit+1)
		}
	}
	query := "SELECT idx, body FROM audit_entries WHERE idx IN (" + strings.Join(parts, " UNION ALL ") + ") ORDER BY time_ns, idx LIMIT ?"
	qargs = append(qargs, limit+1)
	entries, err := r.queryEntries(ctx, query, qargs...)
	if err != nil {
		return nil, err
	}
	page := &Page{Entries: entries}
	if len(entries) > limit {
		page.Entries = entries[:limit]
		last := page.Entries[limit-1]
		page.Next = encodeCursor(last.Time.UnixNano(), last.Index, digest)
	}
	return page, nil
}

// filterDigest binds a cursor to the filters it was made for.
func filterDigest(q Query, citizen string) []byte {
	var b []byte
	for _, t := range []time.Time{q.From, q.To} {
		var v int64
		if !t.IsZero() {
			v = t.UnixNano()
		}
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	for _, s := range []string{q.Actor, q.Department, q.Action, q.Decision, citizen} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	h := sm3.Sum(b)
	return h[:8]
}

func encodeCursor(ns int64, idx uint64, digest []byte) string {
	b := make([]byte, 0, 25)
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(ns))
	b = binary.BigEndian.AppendUint64(b, idx)
	b = append(b, digest...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(c string, digest []byte) (int64, int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != 25 || b[0] != cursorVersion {
		return 0, 0, &QueryError{Field: "cursor", Reason: "malformed cursor"}
	}
	if string(b[17:]) != string(digest) {
		return 0, 0, &QueryError{Field: "cursor", Reason: "cursor belongs to a search with other filters"}
	}
	idx := binary.BigEndian.Uint64(b[9:17])
	if idx > 1<<63-1 {
		return 0, 0, &QueryError{Field: "cursor", Reason: "malformed cursor"}
	}
	return int64(binary.BigEndian.Uint64(b[1:9])), int64(idx), nil
}
