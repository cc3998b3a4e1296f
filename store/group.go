package store

import (
	"context"
	"errors"
	"sync"
)

// maxGroup is the largest number of jobs one group commit runs.
const maxGroup = 128

// Group commits concurrent small writes together: jobs handed to [Group.Do]
// while a commit is under way wait and then run in one transaction, so that
// one fsync (SQLite) or one round of WAL flushing (PostgreSQL) acknowledges
// all of them. A job runs at most once in a committed transaction: when the
// shared transaction fails, each of its jobs is retried in a transaction of
// its own, so one job's error (a unique violation, say) never fails another
// job. Do returns only after the job's transaction has committed, so what
// it wrote is durable before the caller answers.
//
// Jobs must be small (a few statements) and must not depend on each other;
// a job may run twice (once in a shared transaction that failed, then alone),
// so it must have no effects outside tx.
//
// The zero Group is not usable; create one with [NewGroup]. A Group has no
// goroutine of its own: the first caller to find no commit under way runs
// the next batch.
type Group struct {
	db *DB

	mu      sync.Mutex
	running bool
	queue   []*groupJob
}

type groupJob struct {
	ctx  context.Context
	fn   func(*Tx) error
	ran  bool // fn ran in the shared transaction
	err  error
	done chan struct{}
}

// NewGroup returns a Group committing on db.
func NewGroup(db *DB) *Group { return &Group{db: db} }

// Do runs fn in a transaction shared with other concurrent jobs and returns
// once that transaction has committed, or fn's own error. ctx cancels the
// wait (the job may still commit) and the job's own statements.
func (g *Group) Do(ctx context.Context, fn func(*Tx) error) error {
	j := &groupJob{ctx: ctx, fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, j)
	if g.running {
		g.mu.Unlock()
		select {
		case <-j.done:
			return j.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g.running = true
	g.mu.Unlock()
	g.drain()
	<-j.done
	return j.err
}

// drain commits batches until the queue is empty, then hands the role of
// committer back.
func (g *Group) drain() {
	for {
		g.mu.Lock()
		n := min(len(g.queue), maxGroup)
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		batch := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()
		g.commit(batch)
	}
}

// errSkip marks a job left out of a shared transaction because its own
// context ended.
var errSkip = errors.New("store: job skipped")

func (g *Group) commit(batch []*groupJob) {
	if len(batch) == 1 {
		g.alone(batch[0])
		return
	}
	// The batch's statements run under a context of their own: one caller
	// giving up must not roll back the others' writes.
	err := g.db.InTx(context.WithoutCancel(batch[0].ctx), func(tx *Tx) error {
		for _, j := range batch {
			if j.ctx.Err() != nil {
				continue
			}
			if err := j.fn(tx); err != nil {
				return errSkip
			}
			j.ran = true
		}
		return nil
	})
	if err != nil {
		for _, j := range batch {
			j.ran = false
			g.alone(j)
		}
		return
	}
	for _, j := range batch {
		if !j.ran {
			j.err = j.ctx.Err()
		}
		close(j.done)
	}
}

// alone runs one job in its own transaction.
func (g *Group) alone(j *groupJob) {
	if err := j.ctx.Err(); err != nil {
		j.err = err
	} else {
		j.err = g.db.InTx(j.ctx, j.fn)
	}
	close(j.done)
}
