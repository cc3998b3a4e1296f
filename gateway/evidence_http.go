package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/tongxing/tongxing/auditlog"
)

// EvidenceReader reads entries, checkpoints and inclusion proofs of the
// audit log; *auditlog.Log and *auditlog.Reader are ones.
type EvidenceReader interface {
	Entry(ctx context.Context, index uint64) (auditlog.Entry, error)
	LatestCheckpoint(ctx context.Context) (*auditlog.Checkpoint, error)
	InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error)
}

// EvidenceResponse is the body of GET /gateway/v1/evidence/{index}: the
// entry (canonical encoding, the Merkle leaf), the signed checkpoint and
// the RFC 6962 inclusion proof against it.
type EvidenceResponse struct {
	Index      uint64          `json:"index"`
	Entry      json.RawMessage `json:"entry"`
	TreeSize   uint64          `json:"tree_size"`
	Checkpoint string          `json:"checkpoint"`
	Proof      [][]byte        `json:"proof"`
}

// serveEvidence gives a party to a call the proof that its entry is in
// the log. Who may ask: the caller, identified as it called (same SPIFFE
// ID, or same client for tokens); or the called department, by a service
// certificate of that department (mTLS). Only gateway entries are served.
// The read is itself logged. An entry not yet covered by a checkpoint gets
// 409 with Retry-After.
func (g *Gateway) serveEvidence(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	index, err := strconv.ParseUint(r.PathValue("index"), 10, 63)
	if err != nil {
		writeDenial(w, newDenial(http.StatusBadRequest, "index: not a non-negative integer"))
		return
	}
	who, err := g.id.identify(r, "")
	if err != nil {
		g.refuseErr(w, r, &call{}, err)
		return
	}
	if ok, wait := g.allowCaller(who); !ok {
		g.limited(w, &call{}, "caller", wait)
		return
	}
	e, err := g.cfg.Evidence.Entry(ctx, index)
	notParty := newDenial(http.StatusForbidden, "only the caller or the called department of a gateway call may read its evidence")
	if errors.Is(err, auditlog.ErrNotFound) {
		writeDenial(w, notParty) // do not reveal which indexes exist
		return
	}
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: read evidence", "index", index, "err", err)
		writeDenial(w, newDenial(http.StatusInternalServerError, "the audit log could not be read"))
		return
	}
	isCall := e.Action == ActionCall || e.Action == ActionResult
	caller := e.Actor.Subject == who.ID
	upstream := who.Via == "mtls" && who.Token == nil && e.Object.Department == who.Department
	if !isCall || !(caller || upstream) {
		writeDenial(w, notParty)
		return
	}
	cp, err := g.cfg.Evidence.LatestCheckpoint(ctx)
	if err != nil && !errors.Is(err, auditlog.ErrNotFound) {
		writeDenial(w, newDenial(http.StatusInternalServerError, "the audit log could not be read"))
		return
	}
	if cp == nil || cp.Size <= index {
		w.Header().Set("Retry-After", "1")
		writeDenial(w, newDenial(http.StatusConflict, "no signed checkpoint covers this entry yet; retry in a second"))
		return
	}
	proof, err := g.cfg.Evidence.InclusionProof(ctx, index, cp.Size)
	if err != nil {
		writeDenial(w, newDenial(http.StatusInternalServerError, "the inclusion proof could not be built"))
		return
	}
	raw, err := e.MarshalCanonical()
	if err != nil {
		writeDenial(w, newDenial(http.StatusInternalServerError, "the entry could not be encoded"))
		return
	}
	role := "caller"
	if !caller {
		role = "called department"
	}
	rec := auditlog.Entry{
		Time:   g.cfg.Now(),
		Actor:  auditlog.Actor{Subject: who.ID, Department: who.Department, Client: who.Client, CertSerial: who.CertSerial, SourceAddr: r.RemoteAddr},
		Action: ActionEvidenceRead, Object: auditlog.Object{Resource: fmt.Sprintf("audit:entry:%d", index), Department: e.Object.Department},
		Reasons: []string{"read by the " + role}, Outcome: "200",
	}
	if _, err := g.cfg.Recorder.Append(context.WithoutCancel(ctx), rec); err != nil {
		g.m.unavailable.WithLabelValues("audit").Inc()
		writeDenial(w, newDenial(http.StatusServiceUnavailable, "the audit log is unavailable"))
		return
	}
	if proof == nil {
		proof = [][]byte{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(EvidenceResponse{Index: index, Entry: raw, TreeSize: cp.Size, Checkpoint: string(cp.Note), Proof: proof})
}

// VerifyEvidenceResponse checks an evidence response offline: the
// checkpoint's signature with the audit log's verifier keys, then the
// entry's inclusion proof against the checkpoint root (RFC 6962 with SM3,
// transparency-dev/merkle). It returns the entry.
func VerifyEvidenceResponse(r *EvidenceResponse, logVerifier note.Verifier, others ...note.Verifier) (auditlog.Entry, error) {
	cp, err := auditlog.OpenCheckpoint([]byte(r.Checkpoint), logVerifier, others...)
	if err != nil {
		return auditlog.Entry{}, err
	}
	if cp.Size != r.TreeSize || r.Index >= cp.Size {
		return auditlog.Entry{}, fmt.Errorf("gateway: evidence for entry %d names tree size %d, checkpoint says %d", r.Index, r.TreeSize, cp.Size)
	}
	e, err := auditlog.ParseEntry(r.Entry)
	if err != nil {
		return auditlog.Entry{}, err
	}
	if e.Index != r.Index {
		return auditlog.Entry{}, fmt.Errorf("gateway: the entry says index %d, the evidence %d", e.Index, r.Index)
	}
	if err := proof.VerifyInclusion(auditlog.Hasher{}, r.Index, cp.Size, auditlog.Hasher{}.HashLeaf(r.Entry), r.Proof, cp.Root); err != nil {
		return auditlog.Entry{}, fmt.Errorf("gateway: inclusion proof of entry %d: %w", r.Index, err)
	}
	return e, nil
}
