package ca

import (
	"context"
	"time"

	"github.com/tongxing/tongxing/kms"
)

// Status is a certificate's revocation status in the inventory.
type Status string

// Certificate statuses.
const (
	StatusValid   Status = "valid"
	StatusRevoked Status = "revoked"
	StatusHold    Status = "hold"
)

// Record is a certificate in the inventory.
type Record struct {
	Serial      string    `json:"serial"`
	Issuer      string    `json:"issuer"`
	Profile     string    `json:"profile"`
	Suite       kms.Suite `json:"suite"`
	Subject     string    `json:"subject"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	Status      Status    `json:"status"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
	Reason      *Reason   `json:"revocation_reason,omitempty"`
	DER         []byte    `json:"-"`
	RequestedBy string    `json:"requested_by"`
	CreatedAt   time.Time `json:"created_at"`
}

// Filter selects inventory records. Empty fields match everything.
type Filter struct {
	Profile string
	Subject string // case-insensitive (ASCII) substring of the RFC 4514 subject
	Status  Status
	Limit   int    // default 100, at most 1000
	After   string // serial cursor: records created after this one
	// RequestedBy matches exactly, e.g. "code:enr_…" for the certificates
	// issued for an enrolment code.
	RequestedBy string
}

// Inventory is the certificate inventory.
type Inventory interface {
	// Record stores recs durably, all or none. If redeemCode is not
	// empty, the enrolment code with that ID is marked used (with the
	// first record's serial) and its subject erased in the same
	// transaction, and Record fails with ErrCodeUsed or ErrCodeExpired
	// (storing nothing) if it cannot be.
	Record(ctx context.Context, redeemCode string, recs ...*Record) error
	// Certificate returns the record with the serial, or a 404
	// [*RequestError] wrapping ErrNotFound.
	Certificate(ctx context.Context, serial string) (*Record, error)
	// Certificates lists records matching f, oldest first.
	Certificates(ctx context.Context, f Filter) ([]*Record, error)
}

// Code is an enrolment code's binding, as stored. The code itself is never
// stored, only its hash. Subject holds only what the certificate will carry
// (see [Authority.CreateCode]) and is empty once the code is used or
// expired and purged.
type Code struct {
	ID        string    `json:"id"`
	Hash      []byte    `json:"-"`
	Profile   string    `json:"profile"`
	Subject   Subject   `json:"subject"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`
	// UsedSerial is the serial of the (first) certificate issued for the
	// code, once used.
	UsedSerial string `json:"used_serial,omitempty"`
	// HardwareKey records the registration officer's statement, at
	// vetting, that the subscriber's key is held in hardware.
	HardwareKey bool `json:"hardware_key,omitempty"`
	// PurgedAt is when the subject was erased.
	PurgedAt time.Time `json:"purged_at,omitzero"`
}

// Codes stores enrolment codes.
type Codes interface {
	// CreateCode stores c.
	CreateCode(ctx context.Context, c *Code) error
	// CodeByHash returns the code whose hash is h, or ErrNotFound.
	CodeByHash(ctx context.Context, h []byte) (*Code, error)
	// PurgeCodes erases the subject of every code used or expired at now
	// that still has one, and passes every other code whose subject holds
	// an ID number to minimise, storing the subject it returns when it
	// returns true. It returns how many codes it purged and minimised.
	PurgeCodes(ctx context.Context, now time.Time, minimise func(*Code) (Subject, bool)) (purged, minimised int, err error)
}
