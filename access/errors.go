package access

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors, usable with errors.Is. Errors about a request are
// [*Error] values wrapping them, with an HTTP status.
var (
	// ErrUnknownToken: the token does not exist, was revoked, has expired,
	// or its officer is no longer active.
	ErrUnknownToken = errors.New("access: unknown, expired or revoked token")
	// ErrForbidden: the officer's role may not do this.
	ErrForbidden = errors.New("access: not allowed for this role")
	// ErrSelfApproval: the proposer or the officer concerned tried to
	// approve a proposal.
	ErrSelfApproval = errors.New("access: a proposal cannot be approved by its proposer or the officer it concerns")
	// ErrNotFound: no officer or proposal by that name.
	ErrNotFound = errors.New("access: not found")
	// ErrExists: an officer by that name exists, or a proposal for it is
	// open, or the account is bound to another officer.
	ErrExists = errors.New("access: already exists")
	// ErrClosed: the proposal was already decided, claimed or expired.
	ErrClosed = errors.New("access: proposal closed")
	// ErrLastOfficer: revoking this officer would leave its role without a
	// usable officer.
	ErrLastOfficer = errors.New("access: the last usable officer of a role cannot be revoked")
	// ErrBadCode: a claim code does not match.
	ErrBadCode = errors.New("access: wrong claim code")
	// ErrNotActive: the officer is revoked.
	ErrNotActive = errors.New("access: officer not active")
)

// Error is a refused request: an HTTP status, the field at fault (may be
// empty) and a message for the client, which never holds a secret.
type Error struct {
	Status int
	Field  string
	Msg    string
	Err    error // cause, for errors.Is
}

// Error returns the message, prefixed by the field if any.
func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Msg
	}
	return e.Msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus returns the HTTP status of the refusal.
func (e *Error) HTTPStatus() int { return e.Status }

// FieldName returns the request field at fault.
func (e *Error) FieldName() string { return e.Field }

func refuse(status int, cause error, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...), Err: cause}
}

// notFound is the one 404 of the officer API: an officer or a proposal
// that does not exist. It wraps [ErrNotFound].
func notFound(format string, args ...any) *Error {
	return refuse(http.StatusNotFound, ErrNotFound, format, args...)
}

func badRequest(field string, cause error, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Field: field, Msg: fmt.Sprintf(format, args...), Err: cause}
}
