package authn

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error is an OAuth 2.0 / OpenID Connect protocol error (RFC 6749 §4.1.2.1
// and §5.2, OpenID Connect Core 1.0 §3.1.2.6). Code is the "error" value;
// Description is shown to the client as "error_description" and never holds
// secrets. errors.Is(err, ErrInvalidRequest) and friends match by Code.
type Error struct {
	Code        string
	Description string
	// Status is the HTTP status of a token or userinfo endpoint response;
	// 0 means 400.
	Status int
	Err    error // optional cause, for errors.Is; not shown to clients
}

// Error returns "code: description".
func (e *Error) Error() string {
	if e.Description == "" {
		return "authn: " + e.Code
	}
	return "authn: " + e.Code + ": " + e.Description
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// HTTPStatus returns the HTTP status of the error (400 unless set).
func (e *Error) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

// Sentinel protocol errors, to be used with errors.Is. Returned errors are
// *Error values with the same Code and a description.
var (
	ErrInvalidRequest          = &Error{Code: "invalid_request"}
	ErrUnauthorizedClient      = &Error{Code: "unauthorized_client"}
	ErrAccessDenied            = &Error{Code: "access_denied"}
	ErrUnsupportedResponseType = &Error{Code: "unsupported_response_type"}
	ErrInvalidScope            = &Error{Code: "invalid_scope"}
	ErrServerError             = &Error{Code: "server_error", Status: http.StatusInternalServerError}
	ErrInvalidClient           = &Error{Code: "invalid_client", Status: http.StatusUnauthorized}
	ErrInvalidGrant            = &Error{Code: "invalid_grant"}
	ErrUnsupportedGrantType    = &Error{Code: "unsupported_grant_type"}
	ErrInvalidToken            = &Error{Code: "invalid_token", Status: http.StatusUnauthorized}
	ErrLoginRequired           = &Error{Code: "login_required"}
	ErrConsentRequired         = &Error{Code: "consent_required"}
	ErrRequestNotSupported     = &Error{Code: "request_not_supported"}
	ErrRequestURINotSupported  = &Error{Code: "request_uri_not_supported"}
	// ErrInvalidTarget: a requested audience or resource is not allowed
	// (RFC 8707 §2).
	ErrInvalidTarget = &Error{Code: "invalid_target"}
	// ErrUnsupportedTokenType: revocation of this token type is not
	// supported (RFC 7009 §2.2.1).
	ErrUnsupportedTokenType = &Error{Code: "unsupported_token_type"}
)

// oauthErr returns an *Error like sentinel with a formatted description.
func oauthErr(sentinel *Error, format string, args ...any) *Error {
	return &Error{Code: sentinel.Code, Status: sentinel.Status, Description: fmt.Sprintf(format, args...)}
}

// Sentinel errors of the account, client and key stores.
var (
	// ErrUserNotFound: no account with that ID, user name or ID number.
	ErrUserNotFound = errors.New("authn: user not found")
	// ErrUserExists: the user name or personal ID number is taken.
	ErrUserExists = errors.New("authn: user already exists")
	// ErrInvalidUser: a field of a new account is invalid.
	ErrInvalidUser = errors.New("authn: invalid user")
	// ErrBadCredentials: unknown user name, wrong password or disabled
	// account; the three are not told apart.
	ErrBadCredentials = errors.New("authn: wrong user name or password")
	// ErrLocked: too many failed logins; see [LockedError].
	ErrLocked = errors.New("authn: too many failed logins")
	// ErrNoPseudonymKey: an ID number was given but the provider has no
	// pseudonym key to hash it with.
	ErrNoPseudonymKey = errors.New("authn: no pseudonym key configured")
	// ErrClientNotFound: no client with that ID.
	ErrClientNotFound = errors.New("authn: client not found")
	// ErrClientExists: a client with that ID is already registered.
	ErrClientExists = errors.New("authn: client already exists")
	// ErrInvalidClientConfig: a client registration is invalid.
	ErrInvalidClientConfig = errors.New("authn: invalid client")
	// ErrRotationTooSoon: the next signing key has not been published long
	// enough to be used; see [Provider.Rotate].
	ErrRotationTooSoon = errors.New("authn: next signing key not yet published long enough")
	// ErrSessionNotFound: no SSO session with that ID.
	ErrSessionNotFound = errors.New("authn: session not found")
	// ErrConfig: an option of [New] is missing or invalid.
	ErrConfig = errors.New("authn: invalid configuration")
)

// LockedError reports that logins for an account or from an address are
// throttled until Until. It matches ErrLocked with errors.Is.
type LockedError struct {
	Until time.Time
	// Account is true when the account is locked, false when the client
	// address is.
	Account bool
}

// Error describes the lock without naming the account.
func (e *LockedError) Error() string {
	what := "address"
	if e.Account {
		what = "account"
	}
	return "authn: too many failed logins for this " + what + "; locked until " + e.Until.UTC().Format(time.RFC3339)
}

// Is reports whether target is ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// RetryAfter returns the whole seconds from now until the lock ends, at
// least 1.
func (e *LockedError) RetryAfter(now time.Time) int {
	s := int(e.Until.Sub(now).Round(time.Second) / time.Second)
	return max(s, 1)
}

// quote returns s quoted for an error message, shortened when long, so that
// attacker-chosen values cannot bloat errors and logs.
func quote(s string) string {
	const limit = 64
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}

// FieldError is an invalid field of an account or a client registration.
// It wraps ErrInvalidUser or ErrInvalidClientConfig; Field is the JSON
// name of the field at fault.
type FieldError struct {
	Sentinel error
	Prefix   string // e.g. "client \"x\": "; part of the message only
	Field    string
	Msg      string
}

// Error returns "authn: invalid ...: PREFIXfield: message".
func (e *FieldError) Error() string {
	return e.Sentinel.Error() + ": " + e.Prefix + e.Field + ": " + e.Msg
}

// Unwrap returns the sentinel.
func (e *FieldError) Unwrap() error { return e.Sentinel }

// FieldName returns the field at fault.
func (e *FieldError) FieldName() string { return e.Field }

func invalidUser(field, format string, args ...any) error {
	return &FieldError{Sentinel: ErrInvalidUser, Field: field, Msg: fmt.Sprintf(format, args...)}
}
