package kmc

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors, usable with errors.Is. The errors the KMC returns for a
// request are [*Error]s (or [*ca.RequestError]s from the CA) that wrap them
// and carry an HTTP status and, where one is at fault, a field.
var (
	// ErrNotFound: no escrowed key or recovery by that name.
	ErrNotFound = errors.New("kmc: not found")
	// ErrNotSM2: a key that must be SM2 is not.
	ErrNotSM2 = errors.New("kmc: not an SM2 key")
	// ErrSelfApproval: the officer who requested a recovery tried to approve it.
	ErrSelfApproval = errors.New("kmc: a recovery cannot be approved by its requester")
	// ErrAlreadyApproved: the officer has already approved this recovery.
	ErrAlreadyApproved = errors.New("kmc: officer has already approved this recovery")
	// ErrNotApproved: the recovery lacks the required approvals.
	ErrNotApproved = errors.New("kmc: recovery not approved by enough officers")
	// ErrClosed: the recovery has already been delivered or rejected.
	ErrClosed = errors.New("kmc: recovery already delivered or rejected")
	// ErrExpired: the recovery request has expired.
	ErrExpired = errors.New("kmc: recovery request expired")
	// ErrEscrowCorrupt: an escrowed key failed its integrity check (altered,
	// or moved to another serial).
	ErrEscrowCorrupt = errors.New("kmc: escrowed key failed its integrity check")
	// ErrWrongMasterKey: an escrowed key was sealed under another master key.
	ErrWrongMasterKey = errors.New("kmc: escrowed key was sealed under a different master key")
)

// Error is a refused or failed KMC request: an HTTP status, the request
// field at fault (may be empty) and a message for the client, which never
// holds a key.
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

// HTTPStatus returns the HTTP status of the error.
func (e *Error) HTTPStatus() int { return e.Status }

// FieldName returns the request field at fault.
func (e *Error) FieldName() string { return e.Field }

// fail returns an error with status about field (may be empty) that wraps
// cause.
func fail(status int, field string, cause error, format string, args ...any) *Error {
	return &Error{Status: status, Field: field, Msg: fmt.Sprintf(format, args...), Err: cause}
}

func badRequest(field string, format string, args ...any) *Error {
	return fail(http.StatusBadRequest, field, nil, format, args...)
}

// notFound is the one 404 of the KMC: an escrowed key or a recovery that
// does not exist. It wraps [ErrNotFound].
func notFound(field, format string, args ...any) *Error {
	return fail(http.StatusNotFound, field, ErrNotFound, format, args...)
}
