package auditlog

import (
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/emmansun/gmsm/sm3"
)

// Limits on the fields of an [Entry]. Longer values are rejected by
// [Entry.Validate], never truncated.
const (
	// MaxEntrySize bounds the canonical encoding of one entry.
	MaxEntrySize = 64 << 10
	// MaxFieldLen bounds every string field except Object.Resource and Reasons.
	MaxFieldLen = 1024
	// MaxResourceLen bounds Object.Resource.
	MaxResourceLen = 4096
	// MaxReasons bounds the number of decision reasons.
	MaxReasons = 32
	// MaxActionLen bounds Action.
	MaxActionLen = 128
)

// Decisions recorded in [Entry.Decision].
const (
	// DecisionNone means no policy decision was involved.
	DecisionNone = ""
	// DecisionAllow records a policy decision that allowed the action.
	DecisionAllow = "allow"
	// DecisionDeny records a policy decision that denied the action.
	DecisionDeny = "deny"
)

// ErrInvalidEntry is returned (wrapped) when an entry fails validation or its
// encoding is not canonical.
var ErrInvalidEntry = errors.New("auditlog: invalid entry")

// Actor is who performed an audited action.
type Actor struct {
	// Subject is the authenticated subject: an officer name, a citizen
	// pseudonym, an enterprise credit code or a service identity.
	Subject string
	// Department is the actor's department code, if any.
	Department string
	// Client is the OAuth client or calling service, if any.
	Client string
	// CertSerial is the lower-case hex serial of the client certificate used,
	// if any.
	CertSerial string
	// SourceAddr is the network source address (host:port or IP).
	SourceAddr string
}

// Object is what an audited action was performed on.
type Object struct {
	// Resource names the object, e.g. "ca:certificate:1f2e" or a URL path.
	Resource string
	// Department is the department that owns the object, if any.
	Department string
}

// Entry is one audit record. It carries the fields MLPS 2.0 (GB/T 22239-2019,
// 8.1.4.3 security audit) asks of an audit record: date and time, actor,
// event type (Action), outcome, source (Actor.SourceAddr) and object.
type Entry struct {
	// Index is the position in the log, assigned when the entry is appended;
	// it is ignored by Append.
	Index uint64
	// Time is when the event happened; Append fills in the current time when
	// it is zero. It is stored in UTC with nanosecond precision and must lie
	// in the years 1970..2261 (unix nanoseconds fit an int64).
	Time time.Time
	// Actor is who acted.
	Actor Actor
	// Action is the event type, e.g. "ca.certificate.issue"; required, 1 to
	// 128 characters from [A-Za-z0-9._:/-].
	Action string
	// Object is what was acted upon.
	Object Object
	// Decision is DecisionAllow, DecisionDeny or DecisionNone.
	Decision string
	// Reasons explain the decision; at most MaxReasons.
	Reasons []string
	// RequestDigest is the lower-case hex digest (normally SM3) of the request,
	// if any.
	RequestDigest string
	// TimestampToken references the timestamp token covering the request, e.g.
	// the token's serial number, if any.
	TimestampToken string
	// Outcome is the result, e.g. "success", "failure" or an HTTP status.
	Outcome string
	// Latency is how long the action took; not negative.
	Latency time.Duration
	// CitizenHash is CitizenHash(key, subject) when the event concerns a
	// citizen's data, else empty.
	CitizenHash string

	// The fields below are optional trailing members of the canonical
	// encoding: each is encoded only when set, so entries written before
	// they existed keep their exact bytes and leaf hashes.

	// Purpose is the coded purpose of a data access (a gateway call's
	// Tongxing-Purpose), if any: 1 to 128 characters from [A-Za-z0-9._:-].
	Purpose string
	// PolicyRevision is the revision of the policy bundle that made
	// Decision, if any.
	PolicyRevision string
	// DecisionIndex, when not nil, links this entry to an earlier one: the
	// index of the entry holding the decision this entry completes (the
	// result of a gateway call points at the call's decision entry).
	DecisionIndex *uint64
}

// MaxPurposeLen bounds Entry.Purpose.
const MaxPurposeLen = 128

// CitizenHash returns the keyed hash of a citizen's subject that goes into
// [Entry.CitizenHash]: the lower-case hex HMAC-SM3 (RFC 2104 with GB/T 32905)
// of subject under key. The key must be secret and at least 16 bytes long; the
// function does NOT check its length.
func CitizenHash(key []byte, subject string) string {
	m := hmac.New(sm3.New, key)
	m.Write([]byte(subject))
	return hex.EncodeToString(m.Sum(nil))
}

// timeLayout is the fixed-width UTC time format of the canonical encoding.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// Validate checks e against the field rules and limits documented on
// [Entry]. It does NOT check Index.
func (e *Entry) Validate() error {
	if y := e.Time.UTC().Year(); y < 1970 || y > 2261 {
		return fmt.Errorf("%w: time %s is outside the years 1970..2261", ErrInvalidEntry, e.Time)
	}
	if err := checkAction(e.Action); err != nil {
		return err
	}
	switch e.Decision {
	case DecisionNone, DecisionAllow, DecisionDeny:
	default:
		return fmt.Errorf("%w: decision %.40q is not %q, %q or empty", ErrInvalidEntry, e.Decision, DecisionAllow, DecisionDeny)
	}
	if len(e.Reasons) > MaxReasons {
		return fmt.Errorf("%w: %d reasons, limit %d", ErrInvalidEntry, len(e.Reasons), MaxReasons)
	}
	if e.Latency < 0 {
		return fmt.Errorf("%w: negative latency %s", ErrInvalidEntry, e.Latency)
	}
	fields := []struct {
		name, v string
		max     int
	}{
		{"actor.subject", e.Actor.Subject, MaxFieldLen},
		{"actor.department", e.Actor.Department, MaxFieldLen},
		{"actor.client", e.Actor.Client, MaxFieldLen},
		{"actor.cert_serial", e.Actor.CertSerial, MaxFieldLen},
		{"actor.source_addr", e.Actor.SourceAddr, MaxFieldLen},
		{"object.resource", e.Object.Resource, MaxResourceLen},
		{"object.department", e.Object.Department, MaxFieldLen},
		{"request_digest", e.RequestDigest, MaxFieldLen},
		{"timestamp_token", e.TimestampToken, MaxFieldLen},
		{"outcome", e.Outcome, MaxFieldLen},
	}
	for _, f := range fields {
		if err := checkString(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	for i, r := range e.Reasons {
		if err := checkString("reasons["+strconv.Itoa(i)+"]", r, MaxFieldLen); err != nil {
			return err
		}
	}
	if e.RequestDigest != "" && !isLowerHex(e.RequestDigest) {
		return fmt.Errorf("%w: request_digest %.40q is not lower-case hex", ErrInvalidEntry, e.RequestDigest)
	}
	if e.CitizenHash != "" && (len(e.CitizenHash) != 2*HashSize || !isLowerHex(e.CitizenHash)) {
		return fmt.Errorf("%w: citizen_hash %.80q is not 64 lower-case hex digits", ErrInvalidEntry, e.CitizenHash)
	}
	if e.Purpose != "" && !ValidPurpose(e.Purpose) {
		return fmt.Errorf("%w: purpose %.40q is not 1 to %d characters from [A-Za-z0-9._:-]", ErrInvalidEntry, e.Purpose, MaxPurposeLen)
	}
	if err := checkString("policy_revision", e.PolicyRevision, MaxFieldLen); err != nil {
		return err
	}
	if e.DecisionIndex != nil && *e.DecisionIndex > 1<<63-1 {
		return fmt.Errorf("%w: decision_index %d overflows", ErrInvalidEntry, *e.DecisionIndex)
	}
	return nil
}

// ValidPurpose reports whether p is a well-formed purpose code: 1 to
// MaxPurposeLen characters from [A-Za-z0-9._:-].
func ValidPurpose(p string) bool {
	if p == "" || len(p) > MaxPurposeLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func checkAction(a string) error {
	if a == "" || len(a) > MaxActionLen {
		return fmt.Errorf("%w: action must be 1 to %d characters, got %d", ErrInvalidEntry, MaxActionLen, len(a))
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '/' || c == '-') {
			return fmt.Errorf("%w: action %.40q has character %q outside [A-Za-z0-9._:/-]", ErrInvalidEntry, a, c)
		}
	}
	return nil
}

func checkString(name, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrInvalidEntry, name, len(v), max)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidEntry, name)
	}
	return nil
}

func isLowerHex(s string) bool {
	if len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// MarshalCanonical returns the canonical encoding of e (see the package
// documentation), which is the leaf hashed into the Merkle tree. It validates
// e first.
func (e *Entry) MarshalCanonical() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b := e.appendCanonical(make([]byte, 0, 512))
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("%w: encoding is %d bytes, limit %d", ErrInvalidEntry, len(b), MaxEntrySize)
	}
	return b, nil
}

func (e *Entry) appendCanonical(b []byte) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendUint(b, e.Index, 10)
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, timeLayout)
	b = append(b, `","actor":{"subject":`...)
	b = appendString(b, e.Actor.Subject)
	b = append(b, `,"department":`...)
	b = appendString(b, e.Actor.Department)
	b = append(b, `,"client":`...)
	b = appendString(b, e.Actor.Client)
	b = append(b, `,"cert_serial":`...)
	b = appendString(b, e.Actor.CertSerial)
	b = append(b, `,"source_addr":`...)
	b = appendString(b, e.Actor.SourceAddr)
	b = append(b, `},"action":`...)
	b = appendString(b, e.Action)
	b = append(b, `,"object":{"resource":`...)
	b = appendString(b, e.Object.Resource)
	b = append(b, `,"department":`...)
	b = appendString(b, e.Object.Department)
	b = append(b, `},"decision":`...)
	b = appendString(b, e.Decision)
	b = append(b, `,"reasons":[`...)
	for i, r := range e.Reasons {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, r)
	}
	b = append(b, `],"request_digest":`...)
	b = appendString(b, e.RequestDigest)
	b = append(b, `,"timestamp_token":`...)
	b = appendString(b, e.TimestampToken)
	b = append(b, `,"outcome":`...)
	b = appendString(b, e.Outcome)
	b = append(b, `,"latency_ns":`...)
	b = strconv.AppendInt(b, int64(e.Latency), 10)
	b = append(b, `,"citizen_hash":`...)
	b = appendString(b, e.CitizenHash)
	if e.Purpose != "" {
		b = append(b, `,"purpose":`...)
		b = appendString(b, e.Purpose)
	}
	if e.PolicyRevision != "" {
		b = append(b, `,"policy_revision":`...)
		b = appendString(b, e.PolicyRevision)
	}
	if e.DecisionIndex != nil {
		b = append(b, `,"decision_index":`...)
		b = strconv.AppendUint(b, *e.DecisionIndex, 10)
	}
	b = append(b, '}')
	return b
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string with the escaping of RFC 8785
// section 3.2.2.2: '"' and '\\' are escaped, control characters below U+0020
// use \b \f \n \r \t or \u00xx (lower-case hex), everything else is literal
// UTF-8.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// ParseEntry decodes the canonical encoding of an entry. It accepts exactly
// the bytes [Entry.MarshalCanonical] produces: any other field order, extra
// whitespace, escaping, number form, missing or unknown field is an error
// wrapping ErrInvalidEntry. Input longer than MaxEntrySize is rejected.
func ParseEntry(b []byte) (Entry, error) {
	if len(b) > MaxEntrySize {
		return Entry{}, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidEntry, len(b), MaxEntrySize)
	}
	p := parser{b: b}
	var e Entry
	p.lit(`{"index":`)
	e.Index = p.uint()
	p.lit(`,"time":`)
	ts := p.str()
	p.lit(`,"actor":{"subject":`)
	e.Actor.Subject = p.str()
	p.lit(`,"department":`)
	e.Actor.Department = p.str()
	p.lit(`,"client":`)
	e.Actor.Client = p.str()
	p.lit(`,"cert_serial":`)
	e.Actor.CertSerial = p.str()
	p.lit(`,"source_addr":`)
	e.Actor.SourceAddr = p.str()
	p.lit(`},"action":`)
	e.Action = p.str()
	p.lit(`,"object":{"resource":`)
	e.Object.Resource = p.str()
	p.lit(`,"department":`)
	e.Object.Department = p.str()
	p.lit(`},"decision":`)
	e.Decision = p.str()
	p.lit(`,"reasons":[`)
	e.Reasons = []string{}
	if p.err == nil && p.peek() != ']' {
		for p.err == nil {
			if len(e.Reasons) == MaxReasons {
				p.fail("more than %d reasons", MaxReasons)
				break
			}
			e.Reasons = append(e.Reasons, p.str())
			if p.peek() != ',' {
				break
			}
			p.lit(",")
		}
	}
	p.lit(`],"request_digest":`)
	e.RequestDigest = p.str()
	p.lit(`,"timestamp_token":`)
	e.TimestampToken = p.str()
	p.lit(`,"outcome":`)
	e.Outcome = p.str()
	p.lit(`,"latency_ns":`)
	lat := p.uint()
	p.lit(`,"citizen_hash":`)
	e.CitizenHash = p.str()
	// Optional trailing members, each at most once, in this order.
	if p.optional(`,"purpose":`) {
		e.Purpose = p.str()
	}
	if p.optional(`,"policy_revision":`) {
		e.PolicyRevision = p.str()
	}
	if p.optional(`,"decision_index":`) {
		v := p.uint()
		e.DecisionIndex = &v
	}
	p.lit(`}`)
	if p.err == nil && p.pos != len(b) {
		p.fail("trailing data")
	}
	if p.err != nil {
		return Entry{}, p.err
	}
	if lat > 1<<63-1 {
		return Entry{}, fmt.Errorf("%w: latency_ns %d overflows", ErrInvalidEntry, lat)
	}
	e.Latency = time.Duration(lat)
	t, err := time.Parse(timeLayout, ts)
	if err != nil || len(ts) != len(timeLayout) {
		return Entry{}, fmt.Errorf("%w: time %.40q is not %s", ErrInvalidEntry, ts, timeLayout)
	}
	e.Time = t
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	// The parser accepts only canonical forms; re-encoding proves it.
	if again := e.appendCanonical(make([]byte, 0, len(b))); string(again) != string(b) {
		return Entry{}, fmt.Errorf("%w: encoding is not canonical", ErrInvalidEntry)
	}
	return e, nil
}

// parser reads the canonical encoding; the first error sticks.
type parser struct {
	b   []byte
	pos int
	err error
}

func (p *parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: at byte %d: %s", ErrInvalidEntry, p.pos, fmt.Sprintf(format, args...))
	}
}

func (p *parser) peek() byte {
	if p.err != nil || p.pos >= len(p.b) {
		return 0
	}
	return p.b[p.pos]
}

func (p *parser) lit(s string) {
	if p.err != nil {
		return
	}
	if len(p.b)-p.pos < len(s) || string(p.b[p.pos:p.pos+len(s)]) != s {
		p.fail("want %q", s)
		return
	}
	p.pos += len(s)
}

// optional consumes s if the input continues with it.
func (p *parser) optional(s string) bool {
	if p.err != nil || len(p.b)-p.pos < len(s) || string(p.b[p.pos:p.pos+len(s)]) != s {
		return false
	}
	p.pos += len(s)
	return true
}

// uint reads a decimal integer without sign or leading zeros.
func (p *parser) uint() uint64 {
	if p.err != nil {
		return 0
	}
	start := p.pos
	for p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9' {
		p.pos++
	}
	digits := string(p.b[start:p.pos])
	if digits == "" || len(digits) > 1 && digits[0] == '0' {
		p.fail("want a canonical unsigned integer")
		return 0
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		p.fail("integer %s out of range", digits)
		return 0
	}
	return v
}

// str reads a JSON string escaped as appendString escapes it.
func (p *parser) str() string {
	if p.err != nil {
		return ""
	}
	if p.peek() != '"' {
		p.fail("want a string")
		return ""
	}
	p.pos++
	var out []byte
	start := p.pos
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		switch {
		case c == '"':
			var s string
			if out == nil {
				s = string(p.b[start:p.pos])
			} else {
				s = string(append(out, p.b[start:p.pos]...))
			}
			p.pos++
			if !utf8.ValidString(s) {
				p.fail("string is not valid UTF-8")
				return ""
			}
			return s
		case c < 0x20:
			p.fail("unescaped control character")
			return ""
		case c == '\\':
			out = append(out, p.b[start:p.pos]...)
			if p.pos+1 >= len(p.b) {
				p.fail("truncated escape")
				return ""
			}
			switch e := p.b[p.pos+1]; e {
			case '"', '\\':
				out = append(out, e)
				p.pos += 2
			case 'b':
				out = append(out, '\b')
				p.pos += 2
			case 'f':
				out = append(out, '\f')
				p.pos += 2
			case 'n':
				out = append(out, '\n')
				p.pos += 2
			case 'r':
				out = append(out, '\r')
				p.pos += 2
			case 't':
				out = append(out, '\t')
				p.pos += 2
			case 'u':
				if p.pos+6 > len(p.b) || string(p.b[p.pos+2:p.pos+4]) != "00" {
					p.fail("\\u escape outside U+0000..U+001F")
					return ""
				}
				v, err := strconv.ParseUint(string(p.b[p.pos+4:p.pos+6]), 16, 8)
				if err != nil || v >= 0x20 {
					p.fail("\\u escape outside U+0000..U+001F")
					return ""
				}
				out = append(out, byte(v))
				p.pos += 6
			default:
				p.fail("escape \\%c is not canonical", e)
				return ""
			}
			start = p.pos
		default:
			p.pos++
		}
	}
	p.fail("unterminated string")
	return ""
}
