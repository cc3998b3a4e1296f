package totp

import (
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"
)

// Parameters of the codes this package generates and accepts.
const (
	// Digits is the number of decimal digits of a code.
	Digits = 6
	// Period is the length of one time step.
	Period = 30 * time.Second
	// Skew is how many time steps before and after the current one are
	// also accepted.
	Skew = 1
	// SecretSize is the size in bytes of a generated secret (160 bits, as
	// RFC 4226 recommends).
	SecretSize = 20
	// MinSecretSize is the smallest decoded secret, in bytes, that
	// [Validate] accepts (128 bits, RFC 4226 §4 R6).
	MinSecretSize = 16
	// MaxSecretLength is the longest base32 secret, in characters, that
	// [Validate] accepts (80 bytes decoded).
	MaxSecretLength = 128
	// MaxLabelLength is the longest issuer or account name, in bytes,
	// that [GenerateSecret] accepts.
	MaxLabelLength = 128
)

// Errors returned by this package. Each wraps one of these, so callers use
// errors.Is; none carries a secret or a code.
var (
	// ErrInvalidCode means the code is malformed (not exactly 6 ASCII
	// digits) or does not match the secret within the allowed skew.
	ErrInvalidCode = errors.New("totp: invalid code")
	// ErrReplayed means the code matched a time step that was already used
	// for the account.
	ErrReplayed = errors.New("totp: code already used")
	// ErrSecret means a stored secret is not valid base32 of 16 to 80
	// bytes.
	ErrSecret = errors.New("totp: malformed secret")
	// ErrLabel means an issuer or account name is unusable in an
	// otpauth:// URL.
	ErrLabel = errors.New("totp: bad issuer or account name")
)

// Key is a newly generated TOTP secret with what an authenticator app needs
// to enrol it. Its String and LogValue methods hide the secret.
type Key struct {
	// Issuer and Account are the names the authenticator app shows.
	Issuer  string
	Account string
	// Secret is the shared secret, RFC 4648 base32 upper case without
	// padding. Store it (encrypted) with the account and pass it to
	// [Validate] or [Verifier.Verify].
	Secret string
	// URL is the otpauth://totp/ URL (Key Uri Format) to show as a QR
	// code. It contains the secret.
	URL string
}

// String describes k without its secret.
func (k *Key) String() string {
	return fmt.Sprintf("totp key for %q at %q (secret hidden)", k.Account, k.Issuer)
}

// LogValue implements slog.LogValuer: the secret and URL are never logged.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("issuer", k.Issuer), slog.String("account", k.Account))
}

// GenerateSecret makes a random 20-byte secret (crypto/rand) for account at
// issuer and returns it with its otpauth:// URL for SHA-1, 6 digits and a
// 30-second period. issuer and account must be non-empty valid UTF-8 of at
// most [MaxLabelLength] bytes without colons or control characters;
// otherwise the error wraps [ErrLabel].
func GenerateSecret(issuer, account string) (*Key, error) {
	if err := checkLabel("issuer", issuer); err != nil {
		return nil, err
	}
	if err := checkLabel("account", account); err != nil {
		return nil, err
	}
	k, err := newKey(issuer, account, nil)
	if err != nil {
		return nil, fmt.Errorf("totp: generating secret for %q: %w", account, err)
	}
	return k, nil
}

// newKey makes the Key of secret (a new random one of SecretSize bytes if
// nil) for account at issuer, with Period, six digits and SHA-1.
func newKey(issuer, account string, secret []byte) (*Key, error) {
	opts := pqtotp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      uint(Period / time.Second),
		Secret:      secret,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	}
	if secret == nil {
		opts.SecretSize = SecretSize
	}
	k, err := pqtotp.Generate(opts)
	if err != nil {
		return nil, err
	}
	return &Key{Issuer: issuer, Account: account, Secret: k.Secret(), URL: k.URL()}, nil
}

// KeyFor returns the [Key] of an existing base32 secret (as
// [GenerateSecret] made it) for account at issuer, with its otpauth:// URL,
// to show the same enrolment again. Labels are checked as by
// GenerateSecret ([ErrLabel]); a malformed secret gives [ErrSecret].
func KeyFor(issuer, account, secret string) (*Key, error) {
	if err := checkLabel("issuer", issuer); err != nil {
		return nil, err
	}
	if err := checkLabel("account", account); err != nil {
		return nil, err
	}
	norm, err := normalizeSecret(secret)
	if err != nil {
		return nil, err
	}
	raw, err := base32.StdEncoding.DecodeString(norm)
	if err != nil {
		return nil, fmt.Errorf("%w: not base32", ErrSecret)
	}
	k, err := newKey(issuer, account, raw)
	if err != nil {
		return nil, fmt.Errorf("totp: key for %q: %w", account, err)
	}
	return k, nil
}

func checkLabel(field, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s is empty", ErrLabel, field)
	case len(s) > MaxLabelLength:
		return fmt.Errorf("%w: %s is %d bytes, more than %d", ErrLabel, field, len(s), MaxLabelLength)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrLabel, field)
	case strings.ContainsRune(s, ':'):
		return fmt.Errorf("%w: %s %q contains a colon", ErrLabel, field, s)
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("%w: %s %q contains a control character", ErrLabel, field, s)
	}
	return nil
}

// Validate reports whether code is the 6-digit code of secret for the time
// step of at or the step before or after it. code must be exactly 6 ASCII
// digits (no spaces); secret is base32 (case-insensitive, padding
// optional) of [MinSecretSize] to 80 bytes. Times before the Unix epoch
// never validate. The comparison is constant-time.
//
// Validate does NOT prevent replay of a code within its validity window;
// use [Verifier] for logins.
func Validate(secret, code string, at time.Time) bool {
	_, err := match(secret, code, at)
	return err == nil
}

// GenerateCode returns the 6-digit code of secret for the time step of at,
// as an authenticator app shows it. The error wraps [ErrSecret] for a
// malformed secret and [ErrInvalidCode] for a time before the Unix epoch.
func GenerateCode(secret string, at time.Time) (string, error) {
	s, err := normalizeSecret(secret)
	if err != nil {
		return "", err
	}
	step := stepOf(at)
	if step < 0 {
		return "", fmt.Errorf("%w: time %s is before the Unix epoch", ErrInvalidCode, at.Format(time.RFC3339))
	}
	return codeAt(s, step, otp.DigitsSix)
}

// match returns the time step, among those within [Skew] of at, for which
// code is the code of secret. Every candidate step is computed and compared
// in constant time, whichever matches.
func match(secret, code string, at time.Time) (int64, error) {
	if !wellFormed(code) {
		return 0, fmt.Errorf("%w: not exactly %d ASCII digits", ErrInvalidCode, Digits)
	}
	s, err := normalizeSecret(secret)
	if err != nil {
		return 0, err
	}
	now := stepOf(at)
	found, matched := int64(-1), false
	for d := int64(-Skew); d <= Skew; d++ {
		step := now + d
		if step < 0 {
			continue
		}
		ok, err := hotp.ValidateCustom(code, uint64(step), s, hotp.ValidateOpts{
			Digits:    otp.DigitsSix,
			Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrSecret, err)
		}
		if ok && !matched {
			found, matched = step, true
		}
	}
	if !matched {
		return 0, fmt.Errorf("%w: no match within ±%d time steps", ErrInvalidCode, Skew)
	}
	return found, nil
}

// codeAt returns the HOTP value of the normalised secret s for counter
// step with the given number of digits.
func codeAt(s string, step int64, digits otp.Digits) (string, error) {
	c, err := hotp.GenerateCodeCustom(s, uint64(step), hotp.ValidateOpts{Digits: digits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSecret, err)
	}
	return c, nil
}

// stepOf returns the RFC 6238 time step T = floor(unix / 30); negative for
// times before the epoch.
func stepOf(at time.Time) int64 {
	u := at.Unix()
	p := int64(Period / time.Second)
	if u < 0 {
		return (u - p + 1) / p
	}
	return u / p
}

func wellFormed(code string) bool {
	if len(code) != Digits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// normalizeSecret checks that secret is base32 of an acceptable size and
// returns it upper case and padded, the form the HOTP library decodes
// without further changes.
func normalizeSecret(secret string) (string, error) {
	if len(secret) > MaxSecretLength {
		return "", fmt.Errorf("%w: %d characters, more than %d", ErrSecret, len(secret), MaxSecretLength)
	}
	s := strings.ToUpper(strings.TrimRight(secret, "="))
	if n := len(s) % 8; n != 0 {
		s += strings.Repeat("=", 8-n)
	}
	b, err := base32.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("%w: not base32", ErrSecret)
	}
	if len(b) < MinSecretSize {
		return "", fmt.Errorf("%w: %d bytes, fewer than %d", ErrSecret, len(b), MinSecretSize)
	}
	return s, nil
}
