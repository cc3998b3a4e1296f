package ocsp

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error of this package wraps one of them (or is a
// [*ResponseError]), so callers use errors.Is.
var (
	// ErrMalformed means the input is not a well-formed OCSP message of the
	// kind this package accepts: bad DER, trailing data, a wrong version, an
	// unsupported CertID hash algorithm or an unknown critical extension. A
	// responder answers it with [MalformedRequest].
	ErrMalformed = errors.New("ocsp: malformed message")
	// ErrTooLarge means the input exceeds [MaxRequestSize] or
	// [MaxResponseSize]. A responder answers it with [MalformedRequest] (or
	// HTTP 413 before reading the body).
	ErrTooLarge = errors.New("ocsp: message too large")
	// ErrVerification means a well-formed response is not acceptable: its
	// signature does not verify, or its signer is not the issuer or a
	// responder the issuer authorised.
	ErrVerification = errors.New("ocsp: response verification failed")
	// ErrInvalidInput means the values given to [NewCertID],
	// [CreateRequest], [CreateResponse] or [ErrorResponse] cannot form a
	// valid message.
	ErrInvalidInput = errors.New("ocsp: invalid input")
)

// ResponseError is returned by [ParseResponse] for a well-formed response
// whose responseStatus is not successful.
type ResponseError struct {
	// Status is the responder's status (never Successful).
	Status ResponseStatus
}

// Error formats the error as "ocsp: responder returned STATUS".
func (e *ResponseError) Error() string {
	return "ocsp: responder returned " + e.Status.String()
}

// ResponseStatus is the OCSPResponseStatus of RFC 6960 §4.2.1.
type ResponseStatus int

// The assigned response statuses (4 is not used).
const (
	// Successful: the response holds a signed BasicOCSPResponse.
	Successful ResponseStatus = 0
	// MalformedRequest: the request did not parse.
	MalformedRequest ResponseStatus = 1
	// InternalError: the responder failed.
	InternalError ResponseStatus = 2
	// TryLater: the responder cannot answer now.
	TryLater ResponseStatus = 3
	// SigRequired: the request must be signed.
	SigRequired ResponseStatus = 5
	// Unauthorized: the responder does not answer for this certificate.
	Unauthorized ResponseStatus = 6
)

// String returns the RFC 6960 name of s, e.g. "malformedRequest".
func (s ResponseStatus) String() string {
	switch s {
	case Successful:
		return "successful"
	case MalformedRequest:
		return "malformedRequest"
	case InternalError:
		return "internalError"
	case TryLater:
		return "tryLater"
	case SigRequired:
		return "sigRequired"
	case Unauthorized:
		return "unauthorized"
	}
	return "responseStatus(" + strconv.Itoa(int(s)) + ")"
}

// valid reports whether s is an assigned status.
func (s ResponseStatus) valid() bool {
	switch s {
	case Successful, MalformedRequest, InternalError, TryLater, SigRequired, Unauthorized:
		return true
	}
	return false
}
