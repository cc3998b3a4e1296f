package ca

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Reason is an RFC 5280 §5.3.1 CRLReason code.
type Reason int

// CRL reason codes (RFC 5280 §5.3.1; 7 is not used).
const (
	ReasonUnspecified          Reason = 0
	ReasonKeyCompromise        Reason = 1
	ReasonCACompromise         Reason = 2
	ReasonAffiliationChanged   Reason = 3
	ReasonSuperseded           Reason = 4
	ReasonCessationOfOperation Reason = 5
	ReasonCertificateHold      Reason = 6
	ReasonRemoveFromCRL        Reason = 8
	ReasonPrivilegeWithdrawn   Reason = 9
	ReasonAACompromise         Reason = 10
)

var reasonNames = map[Reason]string{
	ReasonUnspecified:          "unspecified",
	ReasonKeyCompromise:        "keyCompromise",
	ReasonCACompromise:         "cACompromise",
	ReasonAffiliationChanged:   "affiliationChanged",
	ReasonSuperseded:           "superseded",
	ReasonCessationOfOperation: "cessationOfOperation",
	ReasonCertificateHold:      "certificateHold",
	ReasonRemoveFromCRL:        "removeFromCRL",
	ReasonPrivilegeWithdrawn:   "privilegeWithdrawn",
	ReasonAACompromise:         "aACompromise",
}

// String returns the RFC 5280 name, e.g. "keyCompromise".
func (r Reason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// MarshalText encodes the reason by name.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText accepts a reason name (case-insensitive) or its number.
func (r *Reason) UnmarshalText(b []byte) error {
	v, err := ParseReason(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ParseReason parses an RFC 5280 reason name (case-insensitive) or code.
func ParseReason(s string) (Reason, error) {
	for r, n := range reasonNames {
		if strings.EqualFold(n, s) || fmt.Sprint(int(r)) == s {
			return r, nil
		}
	}
	return 0, badField("reason", nil, "%q is not an RFC 5280 reason (unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, aACompromise)", s)
}

// StatusChange asks to move a certificate to another status.
type StatusChange struct {
	Serial  string
	To      Status // StatusRevoked, StatusHold or StatusValid (release from hold)
	Reason  Reason // for StatusRevoked; hold always records certificateHold
	Actor   string // who, e.g. "officer:li"
	Comment string // why, free text (at most 512 characters)
}

// Event is one recorded status change.
type Event struct {
	ID      string    `json:"id"`
	Serial  string    `json:"serial"`
	From    Status    `json:"from"`
	To      Status    `json:"to"`
	Reason  *Reason   `json:"reason,omitempty"`
	Actor   string    `json:"actor"`
	Comment string    `json:"comment"`
	At      time.Time `json:"at"`
}

// StatusStore records status changes. [SQLStore] implements it; an
// [Inventory] passed to [New] that also implements StatusStore enables
// revocation.
type StatusStore interface {
	// SetStatus applies ev atomically if the certificate's status is still
	// ev.From, recording ev, and returns the updated record; ErrNotFound if
	// there is no such certificate, errStatusChanged if its status moved.
	SetStatus(ctx context.Context, ev *Event, revokedAt time.Time) (*Record, error)
	// Events lists a certificate's status changes, oldest first.
	Events(ctx context.Context, serial string) ([]*Event, error)
	// Revoked lists the revoked and held certificates of an issuer that have
	// not expired at now.
	Revoked(ctx context.Context, issuer string, now time.Time) ([]*Record, error)
}

// allowedTransitions maps a status to the statuses it may change to.
var allowedTransitions = map[Status][]Status{
	StatusValid: {StatusRevoked, StatusHold},
	StatusHold:  {StatusRevoked, StatusValid},
}

// SetStatus revokes, holds or releases a certificate (GM/T 0034 asks for
// suspension). Revocation is final. Every change is recorded with who, when
// and why; the issuer's CRL is regenerated before SetStatus returns.
func (a *Authority) SetStatus(ctx context.Context, ch StatusChange) (*Record, error) {
	ss, ok := a.inv.(StatusStore)
	if !ok {
		return nil, fmt.Errorf("ca: the inventory does not record status changes")
	}
	serial, err := ParseSerial(ch.Serial)
	if err != nil {
		return nil, err
	}
	if err := checkText("comment", ch.Comment, 512); err != nil {
		return nil, err
	}
	if ch.Actor == "" {
		return nil, fmt.Errorf("ca: status change of %s without an actor", serial)
	}
	rec, err := a.inv.Certificate(ctx, serial)
	if err != nil {
		return nil, err
	}
	okTo := false
	for _, to := range allowedTransitions[rec.Status] {
		okTo = okTo || to == ch.To
	}
	if !okTo {
		return nil, &RequestError{Field: "status", Status: http.StatusConflict,
			Msg: fmt.Sprintf("certificate %s is %s and cannot become %s", serial, rec.Status, ch.To)}
	}
	ev := &Event{Serial: serial, From: rec.Status, To: ch.To, Actor: ch.Actor, Comment: ch.Comment, At: a.now().UTC()}
	switch ch.To {
	case StatusRevoked:
		if ch.Reason == ReasonCertificateHold || ch.Reason == ReasonRemoveFromCRL || reasonNames[ch.Reason] == "" {
			return nil, badField("reason", nil, "%s is not a revocation reason (use hold and release for suspension)", ch.Reason)
		}
		r := ch.Reason
		ev.Reason = &r
	case StatusHold:
		r := ReasonCertificateHold
		ev.Reason = &r
	}
	var idb [8]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, err
	}
	ev.ID = "evt_" + hex.EncodeToString(idb[:])
	// A certificate revoked after a hold keeps the time of the hold as its
	// revocation time: it has not been valid since, and signatures made
	// while it was held must not become good when the hold turns final.
	updated, err := ss.SetStatus(ctx, ev, ev.At.Truncate(time.Second))
	if err != nil {
		return nil, err
	}
	// The change is committed: it takes effect (OCSP answers from memory
	// dropped, the CRL made again) before anything else can fail, so a
	// revoked certificate never keeps a "good" answer.
	a.hooksMu.Lock()
	hooks := append([]func(context.Context, *Record){}, a.statusHooks...)
	a.hooksMu.Unlock()
	for _, fn := range hooks {
		fn(ctx, updated)
	}
	_, crlErr := a.GenerateCRL(ctx, updated.Issuer)
	action := map[Status]string{StatusRevoked: "ca.certificate.revoke", StatusHold: "ca.certificate.hold", StatusValid: "ca.certificate.release"}[ch.To]
	reasons := []string{"from " + string(ev.From)}
	if ev.Reason != nil {
		reasons = append(reasons, "reason "+ev.Reason.String())
	}
	if ch.Comment != "" {
		reasons = append(reasons, "comment "+ch.Comment)
	}
	if err := a.audit(ctx, AuditEvent{Action: action, Actor: ch.Actor, Resource: "ca:certificate:" + serial, Outcome: "success", Reasons: reasons}); err != nil {
		return updated, fmt.Errorf("ca: status of %s changed but not audited: %w", serial, err)
	}
	a.log.InfoContext(ctx, "certificate status changed", "serial", serial, "from", ev.From, "to", ev.To, "reason", ev.Reason, "actor", ch.Actor)
	if crlErr != nil {
		return updated, fmt.Errorf("ca: status of %s changed, but regenerating the CRL failed: %w", serial, crlErr)
	}
	return updated, nil
}

// Events returns the recorded status changes of a certificate.
func (a *Authority) Events(ctx context.Context, serial string) ([]*Event, error) {
	ss, ok := a.inv.(StatusStore)
	if !ok {
		return nil, fmt.Errorf("ca: the inventory does not record status changes")
	}
	s, err := ParseSerial(serial)
	if err != nil {
		return nil, err
	}
	return ss.Events(ctx, s)
}

// Certificate returns the inventory record of a serial.
func (a *Authority) Certificate(ctx context.Context, serial string) (*Record, error) {
	s, err := ParseSerial(serial)
	if err != nil {
		return nil, err
	}
	return a.inv.Certificate(ctx, s)
}
