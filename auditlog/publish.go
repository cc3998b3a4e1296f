package auditlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Checkpoint publishing: while it holds the lease, a process signs a
// checkpoint of the tree whenever it has grown, at most once per checkpoint
// interval, plus one when it starts publishing and one on Close.

// publisher is a [Log]'s checkpoint publishing.
type publisher struct {
	on    atomic.Bool // checkpoints are published (not deferred, or started)
	mu    sync.Mutex  // guards last and stamp
	last  int64       // size of the newest checkpoint known stored; -1 unknown
	stamp Timestamper
}

// forget makes the next publish store a checkpoint unless one of its size
// exists, as after taking over from another sequencer.
func (p *publisher) forget() {
	p.mu.Lock()
	p.last = -1
	p.mu.Unlock()
}

// ErrCheckpointsStarted is returned by [Log.StartCheckpoints] when
// checkpoints are already being published.
var ErrCheckpointsStarted = errors.New("auditlog: checkpoints already started")

// StartCheckpoints starts publishing the checkpoints of a log opened with
// [WithDeferredCheckpoints]: one at once if this process sequences, then
// whenever the tree has grown, at most once per checkpoint interval, and a
// final one on Close. Each carries a timestamp token from ts when ts is not
// nil (ts replaces [WithTimestamper]). It fails with ErrCheckpointsStarted
// if checkpoints are already published, ErrClosed after Close.
func (l *Log) StartCheckpoints(ctx context.Context, ts Timestamper) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	l.pub.mu.Lock()
	if l.pub.on.Load() {
		l.pub.mu.Unlock()
		return ErrCheckpointsStarted
	}
	l.pub.stamp = ts
	l.pub.on.Store(true)
	l.pub.mu.Unlock()
	l.bgDone.Add(1)
	go l.publishLoop()
	if l.seq.leader.Load() {
		return l.publish(ctx)
	}
	return nil
}

// publishLoop signs a checkpoint whenever the tree has grown, at most once
// per checkpoint interval, while this process is the sequencer.
func (l *Log) publishLoop() {
	defer l.bgDone.Done()
	t := time.NewTicker(l.opts.checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if l.seq.leader.Load() && !l.seq.needReload.Load() {
			if err := l.publish(l.ctx); err != nil {
				l.opts.logger.Error("audit: publish checkpoint", "err", err)
			}
		}
	}
}

// publish stores a signed checkpoint of the current tree unless one of that
// size exists.
func (l *Log) publish(ctx context.Context) error {
	st := l.snapshot()
	l.pub.mu.Lock()
	last, stamp := l.pub.last, l.pub.stamp
	l.pub.mu.Unlock()
	if int64(st.size) == last {
		return nil
	}
	msg, err := l.signer.Sign(st.size, st.root)
	if err != nil {
		return err
	}
	var tst []byte
	if stamp != nil {
		tst, err = stamp(ctx, msg)
		if err != nil {
			l.opts.logger.Error("audit: timestamp checkpoint; storing it without a token", "size", st.size, "err", err)
			tst = nil
		}
	}
	if _, err := l.db.Exec(ctx, "INSERT INTO audit_checkpoints (size, time_ns, note, tst) VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING",
		int64(st.size), l.opts.now().UnixNano(), string(msg), tst); err != nil {
		return fmt.Errorf("auditlog: store checkpoint %d: %w", st.size, err)
	}
	l.pub.mu.Lock()
	if int64(st.size) > l.pub.last {
		l.pub.last = int64(st.size)
	}
	l.pub.mu.Unlock()
	return nil
}

// PublishCheckpoint signs and stores a checkpoint of the current tree now,
// if this process is the sequencer, checkpoints are published (not deferred,
// or started) and none of that size exists. The background loop does this
// every checkpoint interval; this method is for callers that need a
// checkpoint covering their entries at once.
func (l *Log) PublishCheckpoint(ctx context.Context) error {
	if !l.seq.leader.Load() || !l.pub.on.Load() {
		return nil
	}
	return l.publish(ctx)
}
