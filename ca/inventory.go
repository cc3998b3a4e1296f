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
}

// Inventory is the certificate inventory.
type Inventory interface {
	// Record stores rec durably. If redeemCode is not empty, the enrolment
	// code with that ID is marked used in the same transaction, and Record
	// fails with ErrCodeUsed or ErrCodeExpired (storing nothing) if it
	// cannot be.
	Record(ctx context.Context, rec *Record, redeemCode string) error
	// Certificate returns the record with the serial, or ErrNotFound.
	Certificate(ctx context.Context, serial string) (*Record, error)
	// Certificates lists records matching f, oldest first.
	Certificates(ctx context.Context, f Filter) ([]*Record, error)
}

// Code is an enrolment code's binding, as stored. The code itself is never
// stored, only its hash.
type Code struct {
	ID        string    `json:"id"`
	Hash      []byte    `json:"-"`
	Profile   string    `json:"profile"`
	Subject   Subject   `json:"subject"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`
}

// Codes stores enrolment codes.
type Codes interface {
	// CreateCode stores c.
	CreateCode(ctx context.Context, c *Code) error
	// CodeByHash returns the code whose hash is h, or ErrNotFound.
	CodeByHash(ctx context.Context, h []byte) (*Code, error)
}
