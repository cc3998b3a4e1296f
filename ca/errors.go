package ca

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors, usable with errors.Is.
var (
	// ErrNotFound: no certificate, CA or enrolment code by that name.
	ErrNotFound = errors.New("ca: not found")
	// ErrCodeUsed: the enrolment code has already been redeemed.
	ErrCodeUsed = errors.New("ca: enrolment code already used")
	// ErrCodeExpired: the enrolment code has expired.
	ErrCodeExpired = errors.New("ca: enrolment code expired")
	// ErrUnknownProfile: no profile by that name.
	ErrUnknownProfile = errors.New("ca: unknown profile")
	// ErrInternalProfile: the profile is issued only by Tongxing to its own
	// keys (ocsp, tsa), never to a subscriber.
	ErrInternalProfile = errors.New("ca: profile issued only to Tongxing's own keys")
	// ErrKMCOnlyProfile: the profile is issued only by the KMC (the
	// encryption certificate of a dual pair).
	ErrKMCOnlyProfile = errors.New("ca: profile issued only by the KMC")
)

// RequestError is a problem with a request to the CA, attributable to one
// field when Field is set. It maps to an HTTP 4xx status.
type RequestError struct {
	Field  string // JSON field name, e.g. "csr", "enrolment_code", "subject.id_number"
	Status int    // HTTP status; 400 if zero
	Msg    string
	Err    error // cause, for errors.Is
}

// Error returns the message, prefixed by the field if any.
func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Msg)
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// HTTPStatus returns the HTTP status for the error.
func (e *RequestError) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

// FieldName returns the field at fault.
func (e *RequestError) FieldName() string { return e.Field }

// notFound is the one 404 of the CA: a certificate, CA or CRL that does
// not exist. It wraps [ErrNotFound].
func notFound(format string, args ...any) *RequestError {
	return &RequestError{Status: http.StatusNotFound, Msg: fmt.Sprintf(format, args...), Err: ErrNotFound}
}

func badField(field string, err error, format string, args ...any) *RequestError {
	return &RequestError{Field: field, Msg: fmt.Sprintf(format, args...), Err: err}
}
