package auditlog

import (
	"context"
	"log/slog"
	"time"
)

// Defaults of the options below.
const (
	DefaultCheckpointInterval = time.Second
	DefaultMaxBatch           = 4096
	DefaultPollInterval       = 20 * time.Millisecond
	DefaultLeaderRetry        = time.Second
	DefaultSearchLimit        = 100
	MaxSearchLimit            = 1000
	DefaultMaxExport          = 1_000_000
	// SequencerLockID is the PostgreSQL advisory lock key held by the one
	// process that sequences and integrates the log ("txaudit1" in ASCII).
	SequencerLockID int64 = 0x7478617564697431
)

// Timestamper obtains a timestamp token over a signed checkpoint note, e.g.
// an RFC 3161 / GM/T 0033 token from the TSA. It is optional.
type Timestamper func(ctx context.Context, note []byte) ([]byte, error)

// Option configures [Open] and [NewReader].
type Option func(*options)

type options struct {
	logger             *slog.Logger
	now                func() time.Time
	checkpointInterval time.Duration
	maxBatch           int
	pollInterval       time.Duration
	leaderRetry        time.Duration
	lockID             int64
	citizenKey         []byte
	timestamper        Timestamper
	deferCheckpoints   bool
	maxExport          int
	notify             bool

	// For tests: how long deferred appends wait (default DeferLinger),
	// called when a batch of them starts waiting, and after each commit
	// with its number of entries.
	deferLinger time.Duration
	onLinger    func()
	onCommit    func(entries int)
}

func defaultOptions() options {
	return options{
		logger:             slog.New(slog.DiscardHandler),
		now:                time.Now,
		checkpointInterval: DefaultCheckpointInterval,
		maxBatch:           DefaultMaxBatch,
		pollInterval:       DefaultPollInterval,
		leaderRetry:        DefaultLeaderRetry,
		lockID:             SequencerLockID,
		maxExport:          DefaultMaxExport,
		notify:             true,
		deferLinger:        DeferLinger,
	}
}

// WithLogger sets the logger for background errors (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithClock sets the clock that fills in [Entry.Time] and checkpoint times
// (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithCheckpointInterval sets how often a new checkpoint is signed while the
// log grows (default 1s).
func WithCheckpointInterval(d time.Duration) Option {
	return func(o *options) { o.checkpointInterval = d }
}

// WithMaxBatch sets the most entries committed in one transaction (default
// 4096).
func WithMaxBatch(n int) Option {
	return func(o *options) { o.maxBatch = n }
}

// WithPollInterval sets how often, on PostgreSQL, the sequencer looks for
// pending entries from other processes and a non-sequencing process looks
// for the indexes of its pending entries (default 20ms). With WithNotify
// (the default) notifications wake both sides at once and polling is the
// fallback.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) { o.pollInterval = d }
}

// WithLeaderRetry sets how often, on PostgreSQL, a process that does not
// hold the sequencer lock tries to take it, and the holder checks that its
// lock connection is alive (default 1s).
func WithLeaderRetry(d time.Duration) Option {
	return func(o *options) { o.leaderRetry = d }
}

// WithLockID sets the PostgreSQL advisory lock key (default
// SequencerLockID). Only logs sharing a database need distinct keys, which
// this package does not support; the option exists for tests.
func WithLockID(id int64) Option {
	return func(o *options) { o.lockID = id }
}

// WithCitizenKey sets the key of [CitizenHash], which lets searches and the
// HTTP API take a citizen's subject instead of its hash. Without it only
// hashes are accepted.
func WithCitizenKey(key []byte) Option {
	return func(o *options) { o.citizenKey = append([]byte(nil), key...) }
}

// WithTimestamper makes every published checkpoint carry a timestamp token
// over its note (default: none). A failing timestamper is logged and the
// checkpoint is stored without a token.
func WithTimestamper(ts Timestamper) Option {
	return func(o *options) { o.timestamper = ts }
}

// WithDeferredCheckpoints makes [Open] publish no checkpoint until
// [Log.StartCheckpoints] is called: for a timestamper (a TSA in the same
// process) that can only be opened after the log. Entries are appended and
// committed as usual meanwhile; the first checkpoint covers them.
func WithDeferredCheckpoints() Option {
	return func(o *options) { o.deferCheckpoints = true }
}

// WithMaxExport bounds the number of entries in one export (default
// 1,000,000).
func WithMaxExport(n int) Option {
	return func(o *options) { o.maxExport = n }
}

// WithNotify turns the PostgreSQL wake-ups on or off (default on): a
// process that hands entries to the sequencer notifies it, and the
// sequencer notifies the waiting processes when their receipts are
// committed (LISTEN/NOTIFY), so neither waits for a poll. Off, both sides
// rely on polling every WithPollInterval. It has no effect on SQLite.
func WithNotify(on bool) Option {
	return func(o *options) { o.notify = on }
}
