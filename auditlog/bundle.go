package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/tongxing/tongxing/auditlog/sm2note"
)

// Limits of the evidence bundle parser.
const (
	// BundleVersion is the version in a bundle's header line.
	BundleVersion = 1
	// MaxBundleLine bounds one line of a bundle.
	MaxBundleLine = 256 << 10
	// MaxProofLen bounds the number of hashes in one inclusion proof.
	MaxProofLen = 64
)

// ErrBundle is returned (wrapped) for a malformed evidence bundle or one that
// fails verification.
var ErrBundle = errors.New("auditlog: invalid bundle")

// An evidence bundle is JSON lines (one JSON object per line, "\n"
// separated):
//
//	{"type":"checkpoint","version":1,"checkpoint":"<signed note>","timestamp":"<base64 token, optional>"}
//	{"type":"entry","index":7,"proof":["<base64 hash>",...],"entry":<canonical entry>}
//	...
//	{"type":"end","entries":<number of entry lines>}
//
// The entry member is the canonical encoding verbatim; each proof is the
// RFC 6962 inclusion proof of that entry in the tree of the checkpoint.

// BundleEntry is one entry line of a bundle.
type BundleEntry struct {
	Index uint64
	Entry Entry
	// Raw is the canonical encoding, the Merkle leaf.
	Raw   []byte
	Proof [][]byte
}

// Bundle is a parsed evidence bundle. Parsing does NOT verify it; see
// [VerifyBundle].
type Bundle struct {
	// Checkpoint is the signed checkpoint note the proofs are against.
	Checkpoint []byte
	// Timestamp is the optional timestamp token over Checkpoint.
	Timestamp []byte
	Entries   []BundleEntry
}

// BundleReader reads a bundle line by line, so bundles of any length are
// processed in constant memory.
type BundleReader struct {
	sc        *bufio.Scanner
	line      int
	header    bundleLine
	count     uint64
	finished  bool
	lastError error
}

type bundleLine struct {
	Type       string          `json:"type"`
	Version    *int            `json:"version"`
	Checkpoint *string         `json:"checkpoint"`
	Timestamp  []byte          `json:"timestamp"`
	Index      *uint64         `json:"index"`
	Proof      []string        `json:"proof"`
	Entry      json.RawMessage `json:"entry"`
	Entries    *uint64         `json:"entries"`
}

// NewBundleReader reads and checks the header line of a bundle.
func NewBundleReader(r io.Reader) (*BundleReader, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxBundleLine)
	br := &BundleReader{sc: sc}
	l, err := br.readLine()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty bundle", ErrBundle)
	}
	if err != nil {
		return nil, err
	}
	if l.Type != "checkpoint" || l.Version == nil || l.Checkpoint == nil || l.Index != nil || l.Proof != nil || l.Entry != nil || l.Entries != nil {
		return nil, fmt.Errorf("%w: line 1: want a checkpoint header", ErrBundle)
	}
	if *l.Version != BundleVersion {
		return nil, fmt.Errorf("%w: line 1: version %d, want %d", ErrBundle, *l.Version, BundleVersion)
	}
	if len(*l.Checkpoint) > MaxCheckpointSize {
		return nil, fmt.Errorf("%w: line 1: checkpoint is %d bytes, limit %d", ErrBundle, len(*l.Checkpoint), MaxCheckpointSize)
	}
	br.header = l
	return br, nil
}

// Checkpoint returns the signed checkpoint note of the header, unverified.
func (br *BundleReader) Checkpoint() []byte { return []byte(*br.header.Checkpoint) }

// Timestamp returns the header's timestamp token, nil if none.
func (br *BundleReader) Timestamp() []byte { return br.header.Timestamp }

func (br *BundleReader) readLine() (bundleLine, error) {
	if !br.sc.Scan() {
		if err := br.sc.Err(); err != nil {
			return bundleLine{}, fmt.Errorf("%w: line %d: %v", ErrBundle, br.line+1, err)
		}
		return bundleLine{}, io.EOF
	}
	br.line++
	var l bundleLine
	dec := json.NewDecoder(bytes.NewReader(br.sc.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return bundleLine{}, fmt.Errorf("%w: line %d: %v", ErrBundle, br.line, err)
	}
	if dec.More() {
		return bundleLine{}, fmt.Errorf("%w: line %d: trailing data", ErrBundle, br.line)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bundleLine{}, fmt.Errorf("%w: line %d: trailing data", ErrBundle, br.line)
	}
	return l, nil
}

// Next returns the next entry line, or io.EOF after the end line. A bundle
// that stops before its end line, has data after it, or whose end line
// miscounts the entries is an error.
func (br *BundleReader) Next() (*BundleEntry, error) {
	if br.finished {
		return nil, io.EOF
	}
	if br.lastError != nil {
		return nil, br.lastError
	}
	be, err := br.next()
	if err != nil && err != io.EOF {
		br.lastError = err
	}
	return be, err
}

func (br *BundleReader) next() (*BundleEntry, error) {
	l, err := br.readLine()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: truncated: no end line after %d entries", ErrBundle, br.count)
	}
	if err != nil {
		return nil, err
	}
	switch l.Type {
	case "end":
		if l.Entries == nil || l.Version != nil || l.Checkpoint != nil || l.Timestamp != nil || l.Index != nil || l.Proof != nil || l.Entry != nil {
			return nil, fmt.Errorf("%w: line %d: malformed end line", ErrBundle, br.line)
		}
		if *l.Entries != br.count {
			return nil, fmt.Errorf("%w: line %d: end line counts %d entries, bundle has %d", ErrBundle, br.line, *l.Entries, br.count)
		}
		if br.sc.Scan() || br.sc.Err() != nil {
			return nil, fmt.Errorf("%w: line %d: data after the end line", ErrBundle, br.line+1)
		}
		br.finished = true
		return nil, io.EOF
	case "entry":
	default:
		return nil, fmt.Errorf("%w: line %d: unknown line type %.20q", ErrBundle, br.line, l.Type)
	}
	if l.Index == nil || l.Entry == nil || l.Proof == nil || l.Version != nil || l.Checkpoint != nil || l.Timestamp != nil || l.Entries != nil {
		return nil, fmt.Errorf("%w: line %d: malformed entry line", ErrBundle, br.line)
	}
	if len(l.Proof) > MaxProofLen {
		return nil, fmt.Errorf("%w: line %d: proof has %d hashes, limit %d", ErrBundle, br.line, len(l.Proof), MaxProofLen)
	}
	be := &BundleEntry{Index: *l.Index, Raw: []byte(l.Entry), Proof: make([][]byte, len(l.Proof))}
	for i, s := range l.Proof {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(h) != HashSize {
			return nil, fmt.Errorf("%w: line %d: proof hash %d is not a base64 32-byte hash", ErrBundle, br.line, i)
		}
		be.Proof[i] = h
	}
	e, err := ParseEntry(be.Raw)
	if err != nil {
		return nil, fmt.Errorf("%w: line %d (entry %d): %w", ErrBundle, br.line, be.Index, err)
	}
	if e.Index != be.Index {
		return nil, fmt.Errorf("%w: line %d: line index %d but entry says %d", ErrBundle, br.line, be.Index, e.Index)
	}
	be.Entry = e
	br.count++
	return be, nil
}

// ParseBundle parses a whole bundle held in memory, checking its syntax and
// limits but NOT its signatures or proofs.
func ParseBundle(data []byte) (*Bundle, error) {
	br, err := NewBundleReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	b := &Bundle{Checkpoint: br.Checkpoint(), Timestamp: br.Timestamp()}
	for {
		be, err := br.Next()
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		b.Entries = append(b.Entries, *be)
	}
}

// BundleReport describes a verified bundle.
type BundleReport struct {
	Checkpoint *Checkpoint
	Entries    uint64
}

// VerifyBundle checks an evidence bundle offline: the checkpoint must carry a
// valid signature by logVerifier (see [OpenCheckpoint]), and every entry must
// be canonical, lie within the checkpoint and verify with its inclusion proof
// (transparency-dev/merkle proof.VerifyInclusion). It does NOT check the
// timestamp token, nor that the bundle holds every entry matching the query
// that produced it.
func VerifyBundle(r io.Reader, logVerifier note.Verifier, otherVerifiers ...note.Verifier) (*BundleReport, error) {
	br, err := NewBundleReader(r)
	if err != nil {
		return nil, err
	}
	return verifyBundle(br, logVerifier, otherVerifiers...)
}

// VerifyBundleKey is VerifyBundle with the SM2 audit public key: the log
// verifier is named origin, the log's published origin (the log signs with
// its origin as key name). The origin is not taken from the bundle: a
// checkpoint the same key signed for another origin does not verify.
func VerifyBundleKey(r io.Reader, origin string, pub *ecdsa.PublicKey) (*BundleReport, error) {
	v, err := sm2note.NewVerifier(origin, pub)
	if err != nil {
		return nil, fmt.Errorf("%w: origin %.60q: %w", ErrBundle, origin, err)
	}
	br, err := NewBundleReader(r)
	if err != nil {
		return nil, err
	}
	return verifyBundle(br, v)
}

func verifyBundle(br *BundleReader, logVerifier note.Verifier, otherVerifiers ...note.Verifier) (*BundleReport, error) {
	cp, err := OpenCheckpoint(br.Checkpoint(), logVerifier, otherVerifiers...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBundle, err)
	}
	cp.Timestamp = br.Timestamp()
	rep := &BundleReport{Checkpoint: cp}
	for {
		be, err := br.Next()
		if err == io.EOF {
			return rep, nil
		}
		if err != nil {
			return nil, err
		}
		if be.Index >= cp.Size {
			return nil, fmt.Errorf("%w: entry %d is beyond the checkpoint of size %d", ErrBundle, be.Index, cp.Size)
		}
		if err := proof.VerifyInclusion(Hasher{}, be.Index, cp.Size, Hasher{}.HashLeaf(be.Raw), be.Proof, cp.Root); err != nil {
			return nil, fmt.Errorf("%w: entry %d: inclusion proof: %v", ErrBundle, be.Index, err)
		}
		rep.Entries++
	}
}

// ExportReport describes a written bundle.
type ExportReport struct {
	Checkpoint *Checkpoint
	Entries    uint64
}

// Export writes an evidence bundle of the entries matching q (its Limit and
// Cursor are ignored) that the newest stored checkpoint covers, each with its
// inclusion proof against that checkpoint, in (Time, Index) order. Entries
// appended after the checkpoint are left out. The bundle is streamed: w
// receives lines as they are produced. More than WithMaxExport matching
// entries is a *QueryError; the lines already written then lack the end line,
// so every reader rejects them as truncated.
func (r *Reader) Export(ctx context.Context, w io.Writer, q Query) (*ExportReport, error) {
	cp, err := r.LatestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	hdr, err := appendBundleHeader(nil, cp)
	if err != nil {
		return nil, err
	}
	bw.Write(hdr)

	rep := &ExportReport{Checkpoint: cp}
	q.Cursor, q.Limit = "", MaxSearchLimit
	for {
		page, err := r.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, e := range page.Entries {
			if e.Index >= cp.Size {
				continue
			}
			if rep.Entries >= uint64(r.opts.maxExport) {
				return nil, &QueryError{Field: "limit", Reason: fmt.Sprintf("more than %d entries match; narrow the query", r.opts.maxExport)}
			}
			p, err := r.InclusionProof(ctx, e.Index, cp.Size)
			if err != nil {
				return nil, err
			}
			raw, err := e.MarshalCanonical()
			if err != nil {
				return nil, err
			}
			b := appendBundleEntry(make([]byte, 0, len(raw)+64+len(p)*48), e.Index, raw, p)
			if _, err := bw.Write(b); err != nil {
				return nil, fmt.Errorf("auditlog: export: write: %w", err)
			}
			rep.Entries++
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	bw.Write(appendBundleEnd(nil, rep.Entries))
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("auditlog: export: write: %w", err)
	}
	return rep, nil
}

// appendBundleHeader appends the header line of a bundle proving against cp.
func appendBundleHeader(b []byte, cp *Checkpoint) ([]byte, error) {
	hdr := struct {
		Type       string `json:"type"`
		Version    int    `json:"version"`
		Checkpoint string `json:"checkpoint"`
		Timestamp  []byte `json:"timestamp,omitempty"`
	}{"checkpoint", BundleVersion, string(cp.Note), cp.Timestamp}
	line, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("auditlog: export: %w", err)
	}
	return append(append(b, line...), '\n'), nil
}

// appendBundleEntry appends the line of one entry with its proof.
func appendBundleEntry(b []byte, index uint64, raw []byte, p [][]byte) []byte {
	b = append(b, `{"type":"entry","index":`...)
	b = strconv.AppendUint(b, index, 10)
	b = append(b, `,"proof":[`...)
	for i, h := range p {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, h)
		b = append(b, '"')
	}
	b = append(b, `],"entry":`...)
	b = append(b, raw...)
	return append(b, "}\n"...)
}

// appendBundleEnd appends the end line.
func appendBundleEnd(b []byte, entries uint64) []byte {
	b = append(b, `{"type":"end","entries":`...)
	b = strconv.AppendUint(b, entries, 10)
	return append(b, "}\n"...)
}
