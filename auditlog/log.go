package auditlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tongxing/tongxing/store"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("auditlog: log is closed")

// errStale means the stored tree moved on since this process last saw it
// (another process sequenced entries); the batch is retried on fresh state.
var errStale = errors.New("auditlog: tree state changed concurrently")

// indexPrefix starts every canonical encoding; the index digits follow.
const indexPrefix = `{"index":`

// Log is the append-only audit log. Every process that writes audit entries
// opens one; see the package documentation for how several processes on one
// PostgreSQL database share it. All methods are safe for concurrent use.
//
// Its jobs have a file each: appends and the life cycle here; sequencing
// (sequence.go) under the sequencer lease (lease.go); the pending/receipt
// protocol of the processes that do not sequence (pending.go) with its
// PostgreSQL wake-ups (notify.go); checkpoint publishing (publish.go).
type Log struct {
	*Reader
	signer *CheckpointSigner
	lease  lease
	shared bool // other processes may append and hold the lease (PostgreSQL)

	reqs     chan *appendReq
	closeMu  sync.RWMutex
	closed   bool
	runDone  chan struct{}
	stop     chan struct{}
	bgDone   sync.WaitGroup
	ctx      context.Context // background work; cancelled if Close runs out of time
	cancel   context.CancelFunc
	closeErr error
	once     sync.Once

	seq     sequencer
	pub     publisher
	handoff handoff
}

type appendReq struct {
	entry    Entry
	rest     []byte // canonical encoding after the index digits
	token    []byte // timestamp token kept as entry.TimestampToken, if any
	deferred bool   // may wait up to DeferLinger for an append to commit with
	done     chan appendResult
	flush    chan struct{} // set on the marker Close queues behind all appends
}

type appendResult struct {
	index uint64
	err   error
}

// Open starts the audit log on db, signing checkpoints with signer. The
// schema must exist (store.Open applies it). On SQLite the process always
// sequences; on PostgreSQL it competes for the sequencer lock and, while it
// does not hold it, hands entries to the holder through a pending table.
// Unless checkpoints are deferred, a process that sequences publishes one
// at once. Call Close to stop the background work.
func Open(ctx context.Context, db *store.DB, signer *CheckpointSigner, opts ...Option) (*Log, error) {
	if db == nil || signer == nil {
		return nil, errors.New("auditlog: Open needs a database and a checkpoint signer")
	}
	r := NewReader(db, opts...)
	if r.opts.maxBatch < 1 || r.opts.checkpointInterval <= 0 || r.opts.pollInterval <= 0 || r.opts.leaderRetry <= 0 {
		return nil, fmt.Errorf("auditlog: invalid options: batch %d, checkpoint interval %s, poll interval %s, leader retry %s",
			r.opts.maxBatch, r.opts.checkpointInterval, r.opts.pollInterval, r.opts.leaderRetry)
	}
	empty := emptyState()
	if _, err := db.Exec(ctx, "INSERT INTO audit_tree (id, size, root, compact, updated_ns) VALUES (1, 0, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
		empty.root, []byte{}, r.opts.now().UnixNano()); err != nil {
		return nil, fmt.Errorf("auditlog: initialise tree state: %w", err)
	}
	st, err := loadState(ctx, db)
	if err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &Log{
		Reader:  r,
		signer:  signer,
		reqs:    make(chan *appendReq, 2*r.opts.maxBatch),
		runDone: make(chan struct{}),
		stop:    make(chan struct{}),
		ctx:     bg,
		cancel:  cancel,
		handoff: handoff{waiters: map[string]*appendReq{}, wakeSeq: make(chan struct{}, 1), wakeRecv: make(chan struct{}, 1)},
	}
	l.lease, l.shared = newLease(db, r.opts.lockID, r.opts.logger)
	l.seq.state = st
	l.pub.last, l.pub.stamp = -1, r.opts.timestamper
	l.takeLease(bg)
	if l.seq.leader.Load() {
		l.sequencePending() // what an earlier run staged and did not sequence
	}
	if !r.opts.deferCheckpoints {
		l.pub.on.Store(true)
		if l.seq.leader.Load() {
			if err := l.publish(ctx); err != nil {
				l.releaseLease()
				cancel()
				return nil, err
			}
		}
	}
	go l.run()
	l.bgDone.Add(1)
	go l.waitLoop()
	if l.pub.on.Load() {
		l.bgDone.Add(1)
		go l.publishLoop()
	}
	if l.shared && r.opts.notify {
		l.bgDone.Add(1)
		go l.listen()
	}
	return l, nil
}

// Signer returns the checkpoint signer.
func (l *Log) Signer() *CheckpointSigner { return l.signer }

// IsSequencer reports whether this process currently sequences the log
// (always true on SQLite until Close).
func (l *Log) IsSequencer() bool { return l.seq.leader.Load() }

// Append adds e to the log and returns its index. It returns only after the
// entry is durable: committed with its index by the sequencer. e.Index is
// ignored; a zero e.Time is replaced by the current time. Concurrent calls
// are committed together in one transaction (group commit).
//
// If ctx ends first, Append returns its error but the entry may still be
// logged; callers that must not lose the record pass
// context.WithoutCancel(ctx).
func (l *Log) Append(ctx context.Context, e Entry) (uint64, error) {
	return l.append(ctx, e, nil, false)
}

// DeferLinger bounds how long [Log.AppendDeferred] waits for another
// append to share its commit.
const DeferLinger = 2 * time.Millisecond

// AppendDeferred is Append for an entry that no answer waits on, such as
// the result of a call already answered: unless other appends are queued,
// its commit waits up to DeferLinger for one to share it, so that it does
// not hold a commit of its own in front of an append that an answer waits
// on. It returns once the entry is durable, as Append does.
func (l *Log) AppendDeferred(ctx context.Context, e Entry) (uint64, error) {
	return l.append(ctx, e, nil, true)
}

// AppendWithToken is Append for an entry that references a timestamp
// token (e.TimestampToken): the token (DER) is kept with the entry, in the
// same commit, so that neither is durable without the other. A token
// already kept under that reference is left as it is.
func (l *Log) AppendWithToken(ctx context.Context, e Entry, der []byte) (uint64, error) {
	if e.TimestampToken == "" {
		return 0, fmt.Errorf("%w: a kept token needs the entry's timestamp_token reference", ErrInvalidEntry)
	}
	if len(der) == 0 || len(der) > MaxTokenLen {
		return 0, &QueryError{Field: "token", Reason: fmt.Sprintf("1 to %d bytes", MaxTokenLen)}
	}
	return l.append(ctx, e, der, false)
}

func (l *Log) append(ctx context.Context, e Entry, token []byte, deferred bool) (uint64, error) {
	e.Index = 0
	if e.Time.IsZero() {
		e.Time = l.opts.now()
	}
	body, err := e.MarshalCanonical()
	if err != nil {
		return 0, err
	}
	if len(body)+19 > MaxEntrySize {
		return 0, fmt.Errorf("%w: encoding is %d bytes, limit %d with the index", ErrInvalidEntry, len(body), MaxEntrySize)
	}
	req := &appendReq{entry: e, rest: body[len(indexPrefix)+1:], token: token, deferred: deferred, done: make(chan appendResult, 1)}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case l.reqs <- req:
		l.closeMu.RUnlock()
	case <-ctx.Done():
		l.closeMu.RUnlock()
		return 0, fmt.Errorf("auditlog: append %s: %w", e.Action, ctx.Err())
	}
	select {
	case res := <-req.done:
		return res.index, res.err
	case <-ctx.Done():
		return 0, fmt.Errorf("auditlog: append %s: waiting for commit: %w", e.Action, ctx.Err())
	}
}

// Close stops accepting appends, commits those already queued, waits (until
// ctx ends) for pending entries to get their indexes, publishes a final
// checkpoint, releases the sequencer lock and stops the background work. It
// does not close the database. Appends still waiting when ctx ends fail.
func (l *Log) Close(ctx context.Context) error {
	l.once.Do(func() {
		l.closeMu.Lock()
		l.closed = true
		l.closeMu.Unlock()
		var errs []error
		// Everything queued before closed was set is ahead of the marker.
		flush := make(chan struct{})
		select {
		case l.reqs <- &appendReq{flush: flush}:
			select {
			case <-flush:
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
		// Wait for pending entries to be sequenced by whoever holds the lock.
		for ctx.Err() == nil {
			l.handoff.mu.Lock()
			n := len(l.handoff.waiters)
			l.handoff.mu.Unlock()
			if n == 0 {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(l.opts.pollInterval):
			}
		}
		if ctx.Err() != nil {
			l.cancel() // abort database work still in progress
			errs = append(errs, fmt.Errorf("auditlog: close: %w", ctx.Err()))
		}
		close(l.stop)
		<-l.runDone
		l.bgDone.Wait()
		l.handoff.mu.Lock()
		for id, r := range l.handoff.waiters {
			r.done <- appendResult{err: fmt.Errorf("auditlog: closed before pending entry %s was sequenced", id)}
			delete(l.handoff.waiters, id)
		}
		l.handoff.mu.Unlock()
		l.cancel()
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}
