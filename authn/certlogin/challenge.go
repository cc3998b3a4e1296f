package certlogin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits and defaults of challenges.
const (
	// NonceSize is the size in bytes of a challenge nonce.
	NonceSize = 32
	// DefaultChallengeTTL is how long a challenge made by [NewChallenge]
	// stays valid unless [WithTTL] says otherwise.
	DefaultChallengeTTL = 2 * time.Minute
	// MaxChallengeTTL is the longest lifetime [WithTTL] accepts.
	MaxChallengeTTL = 10 * time.Minute
	// MaxAudienceLength is the longest audience, in bytes.
	MaxAudienceLength = 1024
	// MaxChallengeSize is the largest challenge JSON, in bytes, that
	// [ParseChallenge] reads.
	MaxChallengeSize = 4 << 10
)

// signedLabel is the first line of the signed bytes of every challenge.
const signedLabel = "tongxing-cert-login"

// Challenge is one certificate-login challenge. The provider makes it with
// [NewChallenge], keeps it (keyed by [Challenge.ID]) until it expires, and
// sends it to the client as JSON; the client signs [Challenge.ToBeSigned].
//
// [Verify] trusts the Challenge it is given: it must come from the
// provider's own store, never from the client.
type Challenge struct {
	// Nonce is NonceSize random bytes.
	Nonce []byte
	// Audience is the provider's issuer URL.
	Audience string
	// IssuedAt and ExpiresAt are in UTC, whole seconds.
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// ChallengeOption changes how [NewChallenge] makes a challenge.
type ChallengeOption func(*challengeConfig)

type challengeConfig struct{ ttl time.Duration }

// WithTTL sets the challenge's lifetime, truncated to whole seconds: at
// least one second and at most [MaxChallengeTTL]. The default is
// [DefaultChallengeTTL].
func WithTTL(d time.Duration) ChallengeOption {
	return func(c *challengeConfig) { c.ttl = d }
}

// NewChallenge returns a challenge for audience (the provider's issuer URL)
// with a fresh random nonce, issued at now truncated to the second and
// expiring [DefaultChallengeTTL] later. audience must be non-empty UTF-8 of
// at most [MaxAudienceLength] bytes without control characters; otherwise
// the error wraps [ErrChallenge].
func NewChallenge(audience string, now time.Time, opts ...ChallengeOption) (*Challenge, error) {
	cfg := challengeConfig{ttl: DefaultChallengeTTL}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.ttl < time.Second || cfg.ttl > MaxChallengeTTL {
		return nil, fmt.Errorf("%w: lifetime %s is not between 1s and %s", ErrChallenge, cfg.ttl, MaxChallengeTTL)
	}
	if err := checkAudience(audience); err != nil {
		return nil, err
	}
	nonce := make([]byte, NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("certlogin: reading random nonce: %w", err)
	}
	iat := now.UTC().Truncate(time.Second)
	return &Challenge{Nonce: nonce, Audience: audience, IssuedAt: iat, ExpiresAt: iat.Add(cfg.ttl.Truncate(time.Second))}, nil
}

// ID returns the challenge's identifier: its nonce in base64url without
// padding (43 characters). It is the "challenge_id" of login requests.
func (c *Challenge) ID() string { return base64.RawURLEncoding.EncodeToString(c.Nonce) }

// ToBeSigned returns the canonical bytes a client signs: "tongxing-cert-login",
// the audience, the nonce in base64url without padding and the issue time
// in RFC 3339 (UTC, whole seconds), joined by "\n" with no final newline.
// It does not check c; [Verify] and [Sign] do.
func (c *Challenge) ToBeSigned() []byte {
	var b bytes.Buffer
	b.WriteString(signedLabel)
	b.WriteByte('\n')
	b.WriteString(c.Audience)
	b.WriteByte('\n')
	b.WriteString(c.ID())
	b.WriteByte('\n')
	b.WriteString(c.IssuedAt.UTC().Format(time.RFC3339))
	return b.Bytes()
}

// check reports whether c is well formed, wrapping [ErrChallenge].
func (c *Challenge) check() error {
	if c == nil {
		return fmt.Errorf("%w: no challenge", ErrChallenge)
	}
	if len(c.Nonce) != NonceSize {
		return fmt.Errorf("%w: nonce is %d bytes, want %d", ErrChallenge, len(c.Nonce), NonceSize)
	}
	if err := checkAudience(c.Audience); err != nil {
		return err
	}
	if c.IssuedAt.IsZero() || !c.IssuedAt.Equal(c.IssuedAt.Truncate(time.Second)) {
		return fmt.Errorf("%w: challenge %s: issue time is zero or not whole seconds", ErrChallenge, c.ID())
	}
	if !c.ExpiresAt.After(c.IssuedAt) {
		return fmt.Errorf("%w: challenge %s expires at %s, not after its issue time", ErrChallenge, c.ID(), c.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

func checkAudience(a string) error {
	switch {
	case a == "":
		return fmt.Errorf("%w: empty audience", ErrChallenge)
	case len(a) > MaxAudienceLength:
		return fmt.Errorf("%w: audience is %d bytes, more than %d", ErrChallenge, len(a), MaxAudienceLength)
	case !utf8.ValidString(a):
		return fmt.Errorf("%w: audience is not valid UTF-8", ErrChallenge)
	case strings.ContainsFunc(a, unicode.IsControl):
		return fmt.Errorf("%w: audience %q contains a control character", ErrChallenge, a)
	}
	return nil
}

// challengeJSON is the wire form of a challenge.
type challengeJSON struct {
	ID        string `json:"challenge_id"`
	Audience  string `json:"audience"`
	IssuedAt  string `json:"issued_at"`
	ExpiresAt string `json:"expires_at"`
}

// MarshalJSON encodes c as
// {"challenge_id": ID, "audience": ..., "issued_at": RFC 3339, "expires_at": RFC 3339},
// the body the provider sends to a client. The nonce is the challenge_id.
func (c *Challenge) MarshalJSON() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return json.Marshal(challengeJSON{
		ID:        c.ID(),
		Audience:  c.Audience,
		IssuedAt:  c.IssuedAt.UTC().Format(time.RFC3339),
		ExpiresAt: c.ExpiresAt.UTC().Format(time.RFC3339),
	})
}

// ParseChallenge decodes a challenge encoded by [Challenge.MarshalJSON]. b
// must be at most [MaxChallengeSize] bytes holding one JSON object with
// exactly the four fields, a challenge_id of NonceSize bytes in base64url
// without padding and RFC 3339 times; otherwise the error wraps
// [ErrChallenge]. It does NOT check expiry.
func ParseChallenge(b []byte) (*Challenge, error) {
	if len(b) > MaxChallengeSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrChallenge, len(b), MaxChallengeSize)
	}
	var j challengeJSON
	if err := decodeStrict(b, &j); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrChallenge, err)
	}
	nonce, err := decodeID(j.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrChallenge, err)
	}
	iat, err := time.Parse(time.RFC3339, j.IssuedAt)
	if err != nil {
		return nil, fmt.Errorf("%w: issued_at %q is not RFC 3339", ErrChallenge, j.IssuedAt)
	}
	exp, err := time.Parse(time.RFC3339, j.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("%w: expires_at %q is not RFC 3339", ErrChallenge, j.ExpiresAt)
	}
	c := &Challenge{Nonce: nonce, Audience: j.Audience, IssuedAt: iat.UTC(), ExpiresAt: exp.UTC()}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeID decodes a challenge_id: NonceSize bytes in base64url without
// padding.
func decodeID(id string) ([]byte, error) {
	if len(id) != base64.RawURLEncoding.EncodedLen(NonceSize) {
		return nil, fmt.Errorf("challenge_id is %d characters, want %d", len(id), base64.RawURLEncoding.EncodedLen(NonceSize))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	if err != nil {
		return nil, fmt.Errorf("challenge_id %q is not base64url", id)
	}
	return b, nil
}

// decodeStrict decodes one JSON object into v, refusing unknown fields and
// trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return errors.New("bad JSON: data after the object")
	}
	return nil
}

// UsedChallenges records which challenges have been used to log in, so that
// each is accepted at most once.
//
// MarkUsed atomically records that the challenge id was used and reports
// whether it was fresh (not recorded before). expiresAt is the challenge's
// expiry: the record may be dropped after it, since [Verify] refuses
// expired challenges anyway. It must be safe for concurrent use; two
// concurrent calls with the same id must not both return true.
//
// The provider backs it with its database, e.g. an INSERT into a table
// keyed by id that reports a unique-key conflict as not fresh, or by
// deleting the stored challenge and reporting whether a row was deleted,
// so that it holds across replicas. [MemoryUsedChallenges] does this in
// memory.
type UsedChallenges interface {
	MarkUsed(ctx context.Context, id string, expiresAt time.Time) (fresh bool, err error)
}

// MemoryUsedChallenges is an in-memory [UsedChallenges]. It forgets a
// challenge once its expiry has passed by the clock Now (time.Now when
// nil). It is safe for concurrent use; its zero value is ready to use.
// Its records are lost on restart, so it serves tests and single-process
// deployments only.
type MemoryUsedChallenges struct {
	// Now is the clock used to drop expired records; nil means time.Now.
	Now func() time.Time

	mu   sync.Mutex
	used map[string]time.Time
}

var _ UsedChallenges = (*MemoryUsedChallenges)(nil)

// MarkUsed implements [UsedChallenges].
func (m *MemoryUsedChallenges) MarkUsed(ctx context.Context, id string, expiresAt time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	t := now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, exp := range m.used {
		if exp.Before(t) {
			delete(m.used, k)
		}
	}
	if _, ok := m.used[id]; ok {
		return false, nil
	}
	if m.used == nil {
		m.used = make(map[string]time.Time)
	}
	m.used[id] = expiresAt
	return true, nil
}
