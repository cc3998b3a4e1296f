package ident

import "strconv"

// Kind classifies why an identifier or extension was rejected. Every Kind is
// an error and is the target to pass to errors.Is; an [*Error] unwraps to its
// Kind. Kinds are constants, so they cannot be reassigned.
type Kind uint8

const (
	// ErrLength: wrong number of characters, or an extension value over
	// the 64-byte limit.
	ErrLength Kind = iota + 1
	// ErrCharset: a character outside the set the standard allows at that
	// position (this includes a lower-case x or letter: normalise first).
	ErrCharset
	// ErrSegment: a coded segment holds a value its table does not assign
	// (region code starting with 0, unknown registration authority or
	// organisation type, non-digit administrative division code).
	ErrSegment
	// ErrDate: the birth date in a citizen identity number is not a calendar
	// date, is before 1900-01-01, or is after today.
	ErrDate
	// ErrChecksum: a check character does not match.
	ErrChecksum
	// ErrEncoding: an extension value is not the expected DER (wrong tag,
	// bad length, trailing data, invalid string contents, duplicate
	// extension).
	ErrEncoding
	// ErrUnsupported: a well-formed value of a variant this package does not
	// handle (an identity code holding a military officer card or passport
	// number).
	ErrUnsupported
)

// Error returns a short description of the kind.
func (k Kind) Error() string {
	switch k {
	case ErrLength:
		return "wrong length"
	case ErrCharset:
		return "invalid character"
	case ErrSegment:
		return "invalid code segment"
	case ErrDate:
		return "invalid birth date"
	case ErrChecksum:
		return "check character mismatch"
	case ErrEncoding:
		return "invalid encoding"
	case ErrUnsupported:
		return "unsupported variant"
	}
	return "ident kind " + strconv.Itoa(int(k))
}

// Field names used in [Error.Field].
const (
	// FieldIDNumber names a GB 11643 citizen identity number.
	FieldIDNumber = "id_number"
	// FieldUSCC names a GB 32100 unified social credit code.
	FieldUSCC = "uscc"
)

// Error reports a rejected identifier. It unwraps to its Kind, so
// errors.Is(err, ErrChecksum) works through any wrapping.
type Error struct {
	// Field is FieldIDNumber or FieldUSCC.
	Field string
	// Value describes the rejected input (the identifier, or the raw
	// extension value when that could not be decoded) without disclosing
	// it: its length in bytes and, when it is at least 8 bytes long and
	// they are printable ASCII, its last 4 bytes, e.g. "len=18,last4=002X".
	Value string
	// Reason says what is wrong, in words that never include the input.
	Reason string
	// Kind classifies the failure.
	Kind Kind
}

// Error formats the error as "ident: invalid FIELD (VALUE): KIND: REASON".
func (e *Error) Error() string {
	return "ident: invalid " + e.Field + " (" + e.Value + "): " + e.Kind.Error() + ": " + e.Reason
}

// Unwrap returns the error's Kind.
func (e *Error) Unwrap() error {
	if e.Kind == 0 {
		return nil
	}
	return e.Kind
}

// newError builds an *Error with a redacted view of input.
func newError(kind Kind, field, input, reason string) *Error {
	return &Error{Field: field, Value: redact(input), Reason: reason, Kind: kind}
}

// redact describes s by its length and, when s is long enough that they do
// not give it away and they are printable ASCII, its last four bytes.
func redact(s string) string {
	v := "len=" + strconv.Itoa(len(s))
	if len(s) < 8 {
		return v
	}
	tail := s[len(s)-4:]
	for i := 0; i < len(tail); i++ {
		if c := tail[i]; c < 0x21 || c > 0x7e {
			return v
		}
	}
	return v + ",last4=" + tail
}
