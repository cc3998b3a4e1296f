package timestamp

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"sync"
	"time"
)

// SerialBits is the size of token serial numbers: random 128-bit integers.
// RFC 3161 §2.4.2 asks only that serials be unique per TSA (and at most 160
// bits); random serials need no coordination between requests, restarts or
// replicas, and the chance that two of 2^40 tokens share one is below 2^-48.
const SerialBits = 128

// randomSerial returns a positive random integer of at most SerialBits bits.
func randomSerial(r io.Reader) (*big.Int, error) {
	var b [SerialBits / 8]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("timestamp: random serial: %w", err)
		}
		if n := new(big.Int).SetBytes(b[:]); n.Sign() > 0 {
			return n, nil
		}
	}
}

// Watermark keeps an Authority's high-water mark of issued genTime across
// restarts: the Authority stores a mark a little ahead of its clock before
// it issues tokens up to it, and after a restart issues nothing earlier than
// the stored mark. Each process (replica) has its own mark; RFC 3161
// requires genTime ordering between tokens only when a TSA sets the
// ordering field, which Tongxing does not.
//
// Implementations must be safe for concurrent use; see timestamp/sqlmark.
type Watermark interface {
	// Load returns the stored mark, or the zero time if there is none.
	Load(ctx context.Context) (time.Time, error)
	// Raise stores mark unless a later one is stored, and returns once the
	// write is durable.
	Raise(ctx context.Context, mark time.Time) error
}

// MemoryWatermark is a Watermark kept in memory, for tests and for
// Authorities whose restarts need no clock check.
type MemoryWatermark struct {
	mu   sync.Mutex
	mark time.Time
}

var _ Watermark = (*MemoryWatermark)(nil)

// Load implements Watermark.
func (m *MemoryWatermark) Load(context.Context) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mark, nil
}

// Raise implements Watermark.
func (m *MemoryWatermark) Raise(_ context.Context, mark time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mark.After(m.mark) {
		m.mark = mark
	}
	return nil
}

// clockGuard holds what the Authority knows of its own clock: the latest
// genTime it issued, the mark stored before it (floor, read once), and the
// mark stored now (reserved), below which tokens may be issued without a
// write.
type clockGuard struct {
	wm     Watermark
	window time.Duration
	slack  time.Duration

	mu       sync.Mutex // guards the fields below
	last     time.Time
	loaded   bool
	floor    time.Time
	reserved time.Time
	raising  bool // a background Raise is under way
}

// admit checks genTime at against the clock's history and makes sure it is
// covered by a durable mark. It returns the genTime to use: at, or a later
// reading of the clock after waiting (up to window+slack) for the mark left
// by the previous run.
func (g *clockGuard) admit(ctx context.Context, now func() time.Time, log func(error)) (time.Time, error) {
	if err := g.load(ctx); err != nil {
		return time.Time{}, err
	}
	at := now().UTC().Truncate(time.Millisecond)
	g.mu.Lock()
	floor := g.floor
	g.mu.Unlock()
	if at.Before(floor) {
		behind := floor.Sub(at)
		if behind > g.window+g.slack {
			return time.Time{}, fmt.Errorf("%w: now %s, before the high-water mark %s stored by this TSA's previous run",
				ErrClockBackwards, at.Format(time.RFC3339Nano), floor.Format(time.RFC3339Nano))
		}
		t := time.NewTimer(behind)
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Time{}, fmt.Errorf("timestamp: waiting for the clock to pass the previous run's mark: %w", ctx.Err())
		case <-t.C:
		}
		if at = now().UTC().Truncate(time.Millisecond); at.Before(floor) {
			return time.Time{}, fmt.Errorf("%w: the clock did not reach the previous run's mark %s", ErrClockBackwards, floor.Format(time.RFC3339Nano))
		}
	}
	// Reading the clock and comparing it with the latest token is one step
	// under the lock: a goroutine that read the clock earlier but got here
	// later would otherwise look like a clock going backwards.
	g.mu.Lock()
	at = now().UTC().Truncate(time.Millisecond)
	if at.Before(floor) {
		g.mu.Unlock()
		return time.Time{}, fmt.Errorf("%w: now %s, before the high-water mark %s stored by this TSA's previous run",
			ErrClockBackwards, at.Format(time.RFC3339Nano), floor.Format(time.RFC3339Nano))
	}
	if at.Add(g.slack).Before(g.last) {
		last := g.last
		g.mu.Unlock()
		return time.Time{}, fmt.Errorf("%w: now %s, a token was issued at %s",
			ErrClockBackwards, at.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano))
	}
	if at.After(g.last) {
		g.last = at
	}
	reserved := g.reserved
	background := g.wm != nil && !g.raising && at.After(reserved.Add(-g.window/2))
	if background {
		g.raising = true
	}
	g.mu.Unlock()
	if g.wm == nil {
		return at, nil
	}
	if background {
		go func() {
			ctx := context.WithoutCancel(ctx)
			err := g.raise(ctx, at.Add(g.window))
			g.mu.Lock()
			g.raising = false
			g.mu.Unlock()
			if err != nil {
				log(err)
			}
		}()
	}
	if !at.After(reserved) {
		return at, nil
	}
	// Not yet covered by a durable mark: store one before answering.
	if err := g.raise(ctx, at.Add(g.window)); err != nil {
		return time.Time{}, err
	}
	return at, nil
}

// load reads the previous run's mark once.
func (g *clockGuard) load(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.loaded || g.wm == nil {
		return nil
	}
	m, err := g.wm.Load(ctx)
	if err != nil {
		return fmt.Errorf("timestamp: load high-water mark: %w", err)
	}
	g.floor, g.reserved, g.loaded = m.UTC(), m.UTC(), true
	return nil
}

// raise stores mark durably and records it as reserved.
func (g *clockGuard) raise(ctx context.Context, mark time.Time) error {
	if err := g.wm.Raise(ctx, mark); err != nil {
		return fmt.Errorf("timestamp: store high-water mark: %w", err)
	}
	g.mu.Lock()
	if mark.After(g.reserved) {
		g.reserved = mark
	}
	g.mu.Unlock()
	return nil
}
