package kmc

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/store"
)

// Status is the state of a key recovery.
type Status string

// Recovery statuses. A recovery starts requested, becomes approved when
// [RequiredApprovals] officers other than the requester approved it, and ends
// delivered or rejected.
const (
	StatusRequested Status = "requested"
	StatusApproved  Status = "approved"
	StatusDelivered Status = "delivered"
	StatusRejected  Status = "rejected"
)

// Event kinds recorded in kmc_events.
const (
	EventEscrowed         = "escrowed"           // an encryption key was escrowed (actor: the enrolment code)
	EventRequested        = "recovery-requested" // an officer asked for a recovery
	EventApproved         = "approved"           // an officer approved it
	EventApprovalRefused  = "approval-refused"   // an approval was refused (requester, twice, closed, expired)
	EventDelivered        = "delivered"          // the key was delivered, enveloped
	EventDeliveryRefused  = "delivery-refused"   // a delivery was refused (not approved, closed, expired)
	EventDeliveryFailed   = "delivery-failed"    // the escrow row failed its integrity check
	EventRejected         = "rejected"           // an officer rejected or withdrew the recovery
	EventRejectionRefused = "rejection-refused"  // a rejection was refused (already closed)
)

const (
	recoveryIDPrefix = "rcv_"
	idRandomBytes    = 8
)

var recoveryIDRE = regexp.MustCompile(`^rcv_[0-9a-f]{16}$`)

// Recovery is a request to recover an escrowed encryption key.
type Recovery struct {
	ID          string     `json:"id"`
	EncSerial   string     `json:"enc_serial"`
	RequestedBy string     `json:"requested_by"`
	Reason      string     `json:"reason"`
	DeliverTo   []byte     `json:"-"` // DER SubjectPublicKeyInfo of the SM2 key the key is enveloped to
	Status      Status     `json:"status"`
	Approvals   []Approval `json:"approvals"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	ClosedBy    string     `json:"closed_by,omitempty"` // who delivered or rejected it
	ClosedAt    time.Time  `json:"closed_at,omitzero"`
}

// Approval is one officer's approval of a recovery.
type Approval struct {
	Officer string    `json:"officer"`
	At      time.Time `json:"at"`
}

// Event is one recorded step of the KMC.
type Event struct {
	ID         string    `json:"id"`
	RecoveryID string    `json:"recovery_id,omitempty"`
	EncSerial  string    `json:"enc_serial"`
	What       string    `json:"what"`
	Actor      string    `json:"actor"`
	Detail     string    `json:"detail"`
	At         time.Time `json:"at"`
}

// RecoveryRequest asks for the escrowed key of an encryption certificate.
type RecoveryRequest struct {
	EncSerial string // hex serial of the encryption certificate
	Reason    string // why; required, at most MaxReason bytes of printable text
	// DeliverTo is the SM2 public key the recovered key will be enveloped to,
	// as a PEM "PUBLIC KEY" block or DER SubjectPublicKeyInfo of at most
	// MaxPublicKeyPEM bytes: for example the subscriber's new signing key.
	DeliverTo   []byte
	RequestedBy string // the requesting officer, e.g. "officer:li"
}

// Delivery is a recovered key, enveloped.
type Delivery struct {
	Recovery *Recovery
	// EnvelopedKey is the GB/T 35276 SM2EnvelopedKey of the recovered
	// private key to the recovery's DeliverTo key.
	EnvelopedKey   []byte
	EncCertificate *smx509.Certificate
}

// querier is what *store.DB and *store.Tx have in common.
type querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

// RequestRecovery opens a recovery of the escrowed key of req.EncSerial.
// The recovery needs [RequiredApprovals] approvals by officers other than
// req.RequestedBy before [Centre.Deliver] releases the key, and expires after
// the recovery TTL. Errors about the request name the field at fault
// ("enc_serial", "reason", "deliver_to").
func (k *Centre) RequestRecovery(ctx context.Context, req RecoveryRequest) (*Recovery, error) {
	if req.RequestedBy == "" {
		return nil, errors.New("kmc: recovery request without an officer")
	}
	serial, err := ca.ParseSerial(req.EncSerial)
	if err != nil {
		return nil, fail(http.StatusBadRequest, "enc_serial", err, "%q is not a hex serial number", truncate(req.EncSerial, 64))
	}
	reason := strings.TrimSpace(req.Reason)
	if err := checkText("reason", reason, MaxReason, true); err != nil {
		return nil, err
	}
	_, spki, err := ParseDeliverTo(req.DeliverTo)
	if err != nil {
		return nil, err
	}
	var one int
	err = k.db.QueryRow(ctx, "SELECT 1 FROM kmc_escrow WHERE enc_serial = ?", serial).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("enc_serial", "no escrowed key for encryption certificate %s", serial)
	}
	if err != nil {
		return nil, fmt.Errorf("kmc: look up escrow of %s: %w", serial, err)
	}
	id, err := randomID(recoveryIDPrefix)
	if err != nil {
		return nil, err
	}
	now := k.now().UTC().Truncate(time.Second)
	r := &Recovery{ID: id, EncSerial: serial, RequestedBy: req.RequestedBy, Reason: reason, DeliverTo: spki,
		Status: StatusRequested, Approvals: []Approval{}, CreatedAt: now, ExpiresAt: now.Add(k.recoveryTTL)}
	var ev *Event
	err = k.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO kmc_recoveries (id, enc_serial, requested_by, reason, deliver_to_pub, status, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.EncSerial, r.RequestedBy, r.Reason, r.DeliverTo, string(r.Status), r.CreatedAt.Unix(), r.ExpiresAt.Unix()); err != nil {
			return err
		}
		ev = &Event{RecoveryID: r.ID, EncSerial: r.EncSerial, What: EventRequested, Actor: r.RequestedBy,
			Detail: fmt.Sprintf("reason: %s; deliver to SM2 key %s", r.Reason, KeyFingerprint(r.DeliverTo)), At: k.now().UTC()}
		return insertEvent(ctx, tx, ev)
	})
	if err != nil {
		return nil, fmt.Errorf("kmc: store recovery of %s: %w", serial, err)
	}
	k.auditEvent(ctx, ev, "")
	k.log.InfoContext(ctx, "key recovery requested", "recovery", r.ID, "enc_serial", serial, "requested_by", r.RequestedBy)
	return r, nil
}

// Approve records officer's approval of recovery id. The requester cannot
// approve (ErrSelfApproval, 403), an officer's second approval does not
// count (ErrAlreadyApproved, 409), and a closed or expired recovery cannot be
// approved (ErrClosed, ErrExpired). The approval that completes
// [RequiredApprovals] moves the recovery to approved. Refusals are recorded
// as events too.
func (k *Centre) Approve(ctx context.Context, id, officer string) (*Recovery, error) {
	if officer == "" {
		return nil, errors.New("kmc: approval without an officer")
	}
	if !recoveryIDRE.MatchString(id) {
		return nil, noRecovery(id)
	}
	var (
		refusal *Error
		r       *Recovery
		ev      *Event
	)
	err := k.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = lockRecovery(ctx, tx, id); err != nil {
			return err
		}
		now := k.now().UTC()
		if refusal = k.checkOpen(r, now); refusal != nil {
			return refusal
		}
		if officer == r.RequestedBy {
			refusal = refuse(http.StatusForbidden, ErrSelfApproval, "%s requested recovery %s and cannot approve it; %d other registration officers must", officer, id, RequiredApprovals)
			return refusal
		}
		res, err := tx.Exec(ctx, "INSERT INTO kmc_approvals (recovery_id, officer, at) VALUES (?, ?, ?) ON CONFLICT (recovery_id, officer) DO NOTHING", id, officer, now.UnixNano())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			refusal = refuse(http.StatusConflict, ErrAlreadyApproved, "%s has already approved recovery %s; the approval counts once and another registration officer must approve", officer, id)
			return refusal
		}
		n, err := countApprovals(ctx, tx, id, r.RequestedBy)
		if err != nil {
			return err
		}
		detail := fmt.Sprintf("approval %d of %d", n, RequiredApprovals)
		if n >= RequiredApprovals && r.Status == StatusRequested {
			if _, err := tx.Exec(ctx, "UPDATE kmc_recoveries SET status = ? WHERE id = ? AND status = ?", string(StatusApproved), id, string(StatusRequested)); err != nil {
				return err
			}
			detail += ": recovery approved"
		}
		ev = &Event{RecoveryID: id, EncSerial: r.EncSerial, What: EventApproved, Actor: officer, Detail: detail, At: now}
		return insertEvent(ctx, tx, ev)
	})
	if refusal != nil {
		k.recordRefusal(ctx, r, EventApprovalRefused, officer, refusal)
		return nil, refusal
	}
	if err != nil {
		return nil, fmt.Errorf("kmc: approve recovery %s: %w", id, wrapNotFound(err))
	}
	k.auditEvent(ctx, ev, "")
	k.log.InfoContext(ctx, "key recovery approved", "recovery", id, "officer", officer)
	return k.Recovery(ctx, id)
}

// Deliver releases the escrowed key of an approved recovery, once: it opens
// the escrow row, checks the key against the encryption certificate, and
// returns it as an SM2EnvelopedKey to the recovery's DeliverTo key, marking
// the recovery delivered in the same transaction. Any registration officer
// may call it; the key is useful only to the holder of the DeliverTo private
// key, which the approvers saw. Without the approvals it fails with
// ErrNotApproved (409); a second call fails with ErrClosed (409); a damaged
// escrow row fails with ErrEscrowCorrupt or ErrWrongMasterKey (500) and
// leaves the recovery approved. Every outcome is recorded.
func (k *Centre) Deliver(ctx context.Context, id, officer string) (*Delivery, error) {
	if officer == "" {
		return nil, errors.New("kmc: delivery without an officer")
	}
	r, err := k.Recovery(ctx, id)
	if err != nil {
		return nil, err
	}
	rec, err := k.ca.Certificate(ctx, r.EncSerial)
	if err != nil {
		return nil, fmt.Errorf("kmc: encryption certificate of recovery %s: %w", id, err)
	}
	cert, err := smx509.ParseCertificate(rec.DER)
	if err != nil {
		return nil, fmt.Errorf("kmc: encryption certificate %s: %w", r.EncSerial, err)
	}
	to, _, err := ParseDeliverTo(r.DeliverTo)
	if err != nil {
		return nil, fmt.Errorf("kmc: stored deliver-to key of recovery %s: %w", id, err)
	}
	var (
		refusal *Error
		env     []byte
		ev      *Event
	)
	err = k.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = lockRecovery(ctx, tx, id); err != nil {
			return err
		}
		now := k.now().UTC()
		if refusal = k.checkOpen(r, now); refusal != nil {
			return refusal
		}
		n, err := countApprovals(ctx, tx, id, r.RequestedBy)
		if err != nil {
			return err
		}
		if n < RequiredApprovals || r.Status != StatusApproved {
			refusal = refuse(http.StatusConflict, ErrNotApproved, "recovery %s has %d of the %d approvals it needs from registration officers other than the requester", id, n, RequiredApprovals)
			return refusal
		}
		var (
			keyID      string
			nonce, box []byte
		)
		err = tx.QueryRow(ctx, "SELECT master_key_id, nonce, ciphertext FROM kmc_escrow WHERE enc_serial = ?", r.EncSerial).Scan(&keyID, &nonce, &box)
		if errors.Is(err, sql.ErrNoRows) {
			return fail(http.StatusInternalServerError, "", ErrEscrowCorrupt, "the escrowed key of %s is missing", r.EncSerial)
		}
		if err != nil {
			return err
		}
		key, err := k.open(r.EncSerial, keyID, nonce, box)
		if err != nil {
			return err
		}
		if !key.PublicKey.Equal(cert.PublicKey) {
			return fail(http.StatusInternalServerError, "", ErrEscrowCorrupt, "the escrowed key of %s does not match its certificate", r.EncSerial)
		}
		if env, err = sm2.MarshalEnvelopedPrivateKey(rand.Reader, to, key); err != nil {
			return fmt.Errorf("envelope: %w", err)
		}
		res, err := tx.Exec(ctx, "UPDATE kmc_recoveries SET status = ?, closed_by = ?, closed_at = ? WHERE id = ? AND status = ?",
			string(StatusDelivered), officer, now.Unix(), id, string(StatusApproved))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return fmt.Errorf("recovery %s changed while it was delivered", id)
		}
		ev = &Event{RecoveryID: id, EncSerial: r.EncSerial, What: EventDelivered, Actor: officer,
			Detail: "enveloped to SM2 key " + KeyFingerprint(r.DeliverTo), At: now}
		return insertEvent(ctx, tx, ev)
	})
	if refusal != nil {
		k.recordRefusal(ctx, r, EventDeliveryRefused, officer, refusal)
		return nil, refusal
	}
	if err != nil {
		if errors.Is(err, ErrEscrowCorrupt) || errors.Is(err, ErrWrongMasterKey) {
			k.record(ctx, &Event{RecoveryID: id, EncSerial: r.EncSerial, What: EventDeliveryFailed, Actor: officer, Detail: err.Error(), At: k.now().UTC()})
			return nil, err
		}
		return nil, fmt.Errorf("kmc: deliver recovery %s: %w", id, wrapNotFound(err))
	}
	k.auditEvent(ctx, ev, "")
	k.log.InfoContext(ctx, "escrowed key delivered", "recovery", id, "enc_serial", r.EncSerial, "officer", officer)
	r, err = k.Recovery(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Delivery{Recovery: r, EnvelopedKey: env, EncCertificate: cert}, nil
}

// Reject closes recovery id without delivering it. Any registration
// officer may reject, the requester included (to withdraw it); comment, at
// most MaxReason bytes, is recorded.
func (k *Centre) Reject(ctx context.Context, id, officer, comment string) (*Recovery, error) {
	if officer == "" {
		return nil, errors.New("kmc: rejection without an officer")
	}
	comment = strings.TrimSpace(comment)
	if err := checkText("comment", comment, MaxReason, false); err != nil {
		return nil, err
	}
	if !recoveryIDRE.MatchString(id) {
		return nil, noRecovery(id)
	}
	var (
		refusal *Error
		r       *Recovery
		ev      *Event
	)
	err := k.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = lockRecovery(ctx, tx, id); err != nil {
			return err
		}
		now := k.now().UTC()
		if refusal = k.checkOpen(r, now); refusal != nil && !errors.Is(refusal, ErrExpired) {
			return refusal
		}
		refusal = nil
		if _, err := tx.Exec(ctx, "UPDATE kmc_recoveries SET status = ?, closed_by = ?, closed_at = ? WHERE id = ?",
			string(StatusRejected), officer, now.Unix(), id); err != nil {
			return err
		}
		ev = &Event{RecoveryID: id, EncSerial: r.EncSerial, What: EventRejected, Actor: officer, Detail: comment, At: now}
		return insertEvent(ctx, tx, ev)
	})
	if refusal != nil {
		k.recordRefusal(ctx, r, EventRejectionRefused, officer, refusal)
		return nil, refusal
	}
	if err != nil {
		return nil, fmt.Errorf("kmc: reject recovery %s: %w", id, wrapNotFound(err))
	}
	k.auditEvent(ctx, ev, "")
	return k.Recovery(ctx, id)
}

// Recovery returns recovery id with its approvals, or a 404 error wrapping
// ErrNotFound.
func (k *Centre) Recovery(ctx context.Context, id string) (*Recovery, error) {
	if !recoveryIDRE.MatchString(id) {
		return nil, noRecovery(id)
	}
	r, err := loadRecovery(ctx, k.db, id)
	if err != nil {
		return nil, wrapNotFound(err)
	}
	return r, nil
}

// Recoveries lists the recoveries with status (all when empty), newest
// first, at most 100.
func (k *Centre) Recoveries(ctx context.Context, status Status) ([]*Recovery, error) {
	q, args := "SELECT id FROM kmc_recoveries", []any{}
	if status != "" {
		q, args = q+" WHERE status = ?", append(args, string(status))
	}
	rows, err := k.db.Query(ctx, q+" ORDER BY created_at DESC, id LIMIT 100", args...)
	if err != nil {
		return nil, fmt.Errorf("kmc: list recoveries: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := []*Recovery{}
	for _, id := range ids {
		r, err := loadRecovery(ctx, k.db, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Events returns the recorded steps of recovery id, oldest first.
func (k *Centre) Events(ctx context.Context, id string) ([]*Event, error) {
	return k.events(ctx, "recovery_id", id)
}

// EscrowEvents returns the recorded steps concerning the escrowed key of an
// encryption certificate (its escrow and every recovery), oldest first.
func (k *Centre) EscrowEvents(ctx context.Context, encSerial string) ([]*Event, error) {
	s, err := ca.ParseSerial(encSerial)
	if err != nil {
		return nil, fail(http.StatusBadRequest, "enc_serial", err, "%q is not a hex serial number", truncate(encSerial, 64))
	}
	return k.events(ctx, "enc_serial", s)
}

func (k *Centre) events(ctx context.Context, column, value string) ([]*Event, error) {
	rows, err := k.db.Query(ctx, "SELECT id, recovery_id, enc_serial, what, actor, detail, at FROM kmc_events WHERE "+column+" = ? ORDER BY at, id", value)
	if err != nil {
		return nil, fmt.Errorf("kmc: list events of %s: %w", value, err)
	}
	defer rows.Close()
	out := []*Event{}
	for rows.Next() {
		var (
			e  Event
			at int64
		)
		if err := rows.Scan(&e.ID, &e.RecoveryID, &e.EncSerial, &e.What, &e.Actor, &e.Detail, &at); err != nil {
			return nil, fmt.Errorf("kmc: list events of %s: %w", value, err)
		}
		e.At = time.Unix(0, at).UTC()
		out = append(out, &e)
	}
	return out, rows.Err()
}

// ParseDeliverTo parses the public key a recovered key is enveloped to: a
// PEM "PUBLIC KEY" block or DER SubjectPublicKeyInfo of at most
// [MaxPublicKeyPEM] bytes holding an SM2 key. It returns the key and its
// DER SubjectPublicKeyInfo. Errors are 400s on field "deliver_to".
func ParseDeliverTo(b []byte) (*ecdsa.PublicKey, []byte, error) {
	if len(b) == 0 {
		return nil, nil, badRequest("deliver_to", "required: the SM2 public key (PEM) to envelope the recovered key to")
	}
	if len(b) > MaxPublicKeyPEM {
		return nil, nil, badRequest("deliver_to", "%d bytes, at most %d allowed", len(b), MaxPublicKeyPEM)
	}
	der := b
	if block, rest := pem.Decode(b); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, nil, badRequest("deliver_to", "PEM block is %q, want PUBLIC KEY", truncate(block.Type, 64))
		}
		if len(strings.TrimSpace(string(rest))) != 0 {
			return nil, nil, badRequest("deliver_to", "trailing data after the PEM block")
		}
		der = block.Bytes
	} else if b[0] != 0x30 {
		return nil, nil, badRequest("deliver_to", "neither PEM nor DER")
	}
	pub, err := smx509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, nil, fail(http.StatusBadRequest, "deliver_to", err, "not a SubjectPublicKeyInfo: %v", err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(ec) {
		return nil, nil, fail(http.StatusBadRequest, "deliver_to", ErrNotSM2, "the key must be an SM2 public key; this is %s", keyKind(pub))
	}
	spki, err := smx509.MarshalPKIXPublicKey(ec)
	if err != nil {
		return nil, nil, fail(http.StatusBadRequest, "deliver_to", err, "cannot encode the key: %v", err)
	}
	return ec, spki, nil
}

// KeyFingerprint returns the SM3 hash of a DER SubjectPublicKeyInfo in hex,
// as recorded in events.
func KeyFingerprint(spki []byte) string {
	h := sm3.Sum(spki)
	return "sm3:" + hex.EncodeToString(h[:])
}

// refuse returns a refusal of a recovery step: an error the caller records
// as an event and returns.
func refuse(status int, cause error, format string, args ...any) *Error {
	return fail(status, "", cause, format, args...)
}

// checkOpen refuses recoveries that are closed or expired.
func (k *Centre) checkOpen(r *Recovery, now time.Time) *Error {
	switch r.Status {
	case StatusDelivered:
		return refuse(http.StatusConflict, ErrClosed, "recovery %s was already delivered by %s at %s; a key is delivered once", r.ID, r.ClosedBy, r.ClosedAt.Format(time.RFC3339))
	case StatusRejected:
		return refuse(http.StatusConflict, ErrClosed, "recovery %s was rejected by %s at %s", r.ID, r.ClosedBy, r.ClosedAt.Format(time.RFC3339))
	}
	if !now.Before(r.ExpiresAt) {
		return refuse(http.StatusConflict, ErrExpired, "recovery %s expired at %s; request a new one", r.ID, r.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

// recordRefusal records a refused step of an existing recovery.
func (k *Centre) recordRefusal(ctx context.Context, r *Recovery, what, officer string, refusal *Error) {
	if r == nil {
		return
	}
	k.log.WarnContext(ctx, "key recovery step refused", "recovery", r.ID, "what", what, "officer", officer, "why", refusal.Msg)
	k.record(ctx, &Event{RecoveryID: r.ID, EncSerial: r.EncSerial, What: what, Actor: officer, Detail: refusal.Msg, At: k.now().UTC()})
}

// record stores an event outside any other transaction; a failure is
// logged, since the caller is already reporting an error.
func (k *Centre) record(ctx context.Context, e *Event) {
	if err := insertEvent(context.WithoutCancel(ctx), k.db, e); err != nil {
		k.log.ErrorContext(ctx, "could not record KMC event", "what", e.What, "recovery", e.RecoveryID, "err", err)
	}
	k.auditEvent(ctx, e, "failure: "+e.Detail)
}

func insertEvent(ctx context.Context, q querier, e *Event) error {
	if e.ID == "" {
		id, err := randomID("kev_")
		if err != nil {
			return err
		}
		e.ID = id
	}
	_, err := q.Exec(ctx, "INSERT INTO kmc_events (id, recovery_id, enc_serial, what, actor, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		e.ID, e.RecoveryID, e.EncSerial, e.What, e.Actor, e.Detail, e.At.UnixNano())
	if err != nil {
		return fmt.Errorf("kmc: record event %s: %w", e.What, err)
	}
	return nil
}

// lockRecovery takes the row lock of recovery id (PostgreSQL; SQLite's
// transaction holds the database write lock already), so that concurrent
// approvals and deliveries of one recovery are serialised, and reads it.
func lockRecovery(ctx context.Context, tx *store.Tx, id string) (*Recovery, error) {
	res, err := tx.Exec(ctx, "UPDATE kmc_recoveries SET status = status WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n != 1 {
		return nil, sql.ErrNoRows
	}
	return loadRecovery(ctx, tx, id)
}

func loadRecovery(ctx context.Context, q querier, id string) (*Recovery, error) {
	var (
		r                Recovery
		status           string
		created, expires int64
		closedBy         sql.NullString
		closedAt         sql.NullInt64
	)
	err := q.QueryRow(ctx, "SELECT id, enc_serial, requested_by, reason, deliver_to_pub, status, created_at, expires_at, closed_by, closed_at FROM kmc_recoveries WHERE id = ?", id).
		Scan(&r.ID, &r.EncSerial, &r.RequestedBy, &r.Reason, &r.DeliverTo, &status, &created, &expires, &closedBy, &closedAt)
	if err != nil {
		return nil, err
	}
	r.Status = Status(status)
	r.CreatedAt, r.ExpiresAt = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	r.ClosedBy = closedBy.String
	if closedAt.Valid {
		r.ClosedAt = time.Unix(closedAt.Int64, 0).UTC()
	}
	rows, err := q.Query(ctx, "SELECT officer, at FROM kmc_approvals WHERE recovery_id = ? ORDER BY at, officer", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	r.Approvals = []Approval{}
	for rows.Next() {
		var (
			a  Approval
			at int64
		)
		if err := rows.Scan(&a.Officer, &at); err != nil {
			return nil, err
		}
		a.At = time.Unix(0, at).UTC()
		r.Approvals = append(r.Approvals, a)
	}
	return &r, rows.Err()
}

// countApprovals counts the distinct approving officers other than the
// requester.
func countApprovals(ctx context.Context, q querier, id, requester string) (int, error) {
	var n int
	err := q.QueryRow(ctx, "SELECT COUNT(DISTINCT officer) FROM kmc_approvals WHERE recovery_id = ? AND officer <> ?", id, requester).Scan(&n)
	return n, err
}

// noRecovery is the 404 of a recovery ID that names none.
func noRecovery(id string) error {
	return notFound("", "no key recovery %q", truncate(id, 64))
}

// wrapNotFound turns a missing row into a 404.
func wrapNotFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("", "no such key recovery")
	}
	return err
}

func randomID(prefix string) (string, error) {
	var b [idRandomBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("kmc: random id: %w", err)
	}
	return prefix + hex.EncodeToString(b[:]), nil
}

// checkText checks a free-text field: valid UTF-8, no control characters,
// at most max bytes, and present if required.
func checkText(field, v string, max int, required bool) error {
	if required && v == "" {
		return badRequest(field, "required")
	}
	if len(v) > max {
		return badRequest(field, "%d bytes, at most %d allowed", len(v), max)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return badRequest(field, "must be printable UTF-8 text")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
