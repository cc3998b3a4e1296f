package timestamp

import (
	"crypto"
	"encoding/asn1"
	"io"
	"log/slog"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// Defaults of NewAuthority.
const (
	DefaultAccuracy          = time.Second
	DefaultMaxDrift          = time.Second
	DefaultReferenceInterval = 30 * time.Second
	// MaxNonceSize is the longest nonce echoed, in bytes.
	MaxNonceSize = 64
)

type signerSpec struct {
	key   crypto.Signer
	chain []*smx509.Certificate
}

type config struct {
	signers  []signerSpec
	policy   asn1.ObjectIdentifier
	accepted []asn1.ObjectIdentifier
	accuracy time.Duration
	now      func() time.Time
	wm       Watermark
	window   time.Duration
	slack    time.Duration
	ref      ReferenceClock
	maxDrift time.Duration
	interval time.Duration
	rand     io.Reader
	log      *slog.Logger
	tsaName  bool
}

// Option configures NewAuthority.
type Option func(*config)

// WithSigner adds a key and certificate chain (TSA certificate first) for
// the other suite, so one Authority answers both SM3 (gm, SM2 key) and
// SHA-2 (intl, ECDSA key) requests. At most one key per suite.
func WithSigner(key crypto.Signer, chain []*smx509.Certificate) Option {
	return func(c *config) { c.signers = append(c.signers, signerSpec{key, chain}) }
}

// WithPolicy sets the TSA policy put in tokens when the request names none.
// Default: the first certificate policy of the first TSA certificate;
// NewAuthority fails if there is neither.
func WithPolicy(oid asn1.ObjectIdentifier) Option {
	return func(c *config) { c.policy = oid }
}

// WithAcceptedPolicies sets the policies a request may ask for (reqPolicy),
// in addition to the default policy. Any other requested policy is
// rejected with unacceptedPolicy. Default: only the default policy.
func WithAcceptedPolicies(oids ...asn1.ObjectIdentifier) Option {
	return func(c *config) { c.accepted = append(c.accepted, oids...) }
}

// WithAccuracy sets the accuracy stated in tokens. Zero leaves the field
// out. Default: DefaultAccuracy (1s). With a reference clock it must not be
// smaller than the drift bound.
func WithAccuracy(d time.Duration) Option {
	return func(c *config) { c.accuracy = d }
}

// WithClock replaces the local clock. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithWatermark persists the Authority's high-water mark of genTime in w,
// so that after a restart it issues no token earlier than one issued before
// it. The Authority stores a mark window ahead of its clock (raised in the
// background when half of it is used; a request waits for the write only
// when the clock has passed the stored mark) and, after a restart, waits up
// to window for its clock to pass the previous run's mark. Default: no
// persistence (DefaultWatermarkWindow when window is 0).
func WithWatermark(w Watermark, window time.Duration) Option {
	return func(c *config) { c.wm, c.window = w, window }
}

// DefaultWatermarkWindow is how far ahead of the clock the stored
// high-water mark runs.
const DefaultWatermarkWindow = time.Second

// WithBackwardsTolerance lets the Authority issue although its clock is up
// to d behind the latest genTime it issued (or behind the previous run's
// mark by more than the watermark window). Default: 0, any step backwards
// is refused. Each Authority checks only its own tokens: replicas do not
// compare clocks with each other.
func WithBackwardsTolerance(d time.Duration) Option {
	return func(c *config) { c.slack = d }
}

// WithReference makes the Authority compare its clock with ref and refuse
// to issue (timeNotAvailable) when the difference, plus half the query
// round trip, exceeds the drift bound, or when ref cannot be read once the
// last measurement is older than the reference interval. Default: no
// reference clock.
func WithReference(ref ReferenceClock) Option {
	return func(c *config) { c.ref = ref }
}

// WithMaxDrift sets the drift bound against the reference clock.
// Default: DefaultMaxDrift (1s).
func WithMaxDrift(d time.Duration) Option {
	return func(c *config) { c.maxDrift = d }
}

// WithReferenceInterval sets how long a reference measurement is reused.
// Default: DefaultReferenceInterval (30s).
func WithReferenceInterval(d time.Duration) Option {
	return func(c *config) { c.interval = d }
}

// WithRand sets the randomness for signatures. Default: crypto/rand.Reader.
func WithRand(r io.Reader) Option {
	return func(c *config) { c.rand = r }
}

// WithLogger sets the logger for refusals and failures. Default: none.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.log = l }
}

// WithTSAName puts the TSA certificate's subject into the tsa field of
// tokens. Default: left out.
func WithTSAName() Option {
	return func(c *config) { c.tsaName = true }
}
