package timestamp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ReferenceClock is a trusted time source the TSA compares its clock with:
// an NTP or Roughtime client, a GPS receiver, a database server's clock.
type ReferenceClock interface {
	// Now returns the reference time.
	Now(ctx context.Context) (time.Time, error)
}

// ReferenceClockFunc adapts a function to ReferenceClock.
type ReferenceClockFunc func(ctx context.Context) (time.Time, error)

// Now calls f.
func (f ReferenceClockFunc) Now(ctx context.Context) (time.Time, error) { return f(ctx) }

// Clock-safety errors; they wrap TimeNotAvailable.
var (
	ErrClockBackwards       = fmt.Errorf("clock went backwards: %w", TimeNotAvailable)
	ErrClockDrift           = fmt.Errorf("clock drifts beyond the allowed bound: %w", TimeNotAvailable)
	ErrReferenceUnavailable = fmt.Errorf("reference clock unavailable: %w", TimeNotAvailable)
)

// driftGuard compares the local clock with a ReferenceClock. A measurement
// is reused for the configured interval; between measurements a step of
// the local wall clock is seen by comparing wall and monotonic elapsed time
// (when the clock supplies monotonic readings, as time.Now does).
type driftGuard struct {
	ref      ReferenceClock
	maxDrift time.Duration
	interval time.Duration
	now      func() time.Time

	mu          sync.Mutex
	valid       bool
	measuredAt  time.Time     // local time of the measurement
	offset      time.Duration // reference minus local at measuredAt
	uncertainty time.Duration // half the round trip
}

// estimate returns the current offset estimate; ok is false if a new
// measurement is due.
func (g *driftGuard) estimate(local time.Time) (time.Duration, bool) {
	if !g.valid {
		return 0, false
	}
	mono := local.Sub(g.measuredAt)
	if mono < 0 || mono >= g.interval {
		return 0, false
	}
	wall := local.Round(0).Sub(g.measuredAt.Round(0))
	return g.offset - (wall - mono), true
}

func (g *driftGuard) measure(ctx context.Context) error {
	t0 := g.now()
	ref, err := g.ref.Now(ctx)
	t1 := g.now()
	if err != nil {
		g.valid = false
		return fmt.Errorf("%w: %v", ErrReferenceUnavailable, err)
	}
	rtt := t1.Sub(t0)
	if rtt < 0 {
		g.valid = false
		return fmt.Errorf("%w: local clock stepped during the reference query", ErrClockBackwards)
	}
	mid := t0.Add(rtt / 2)
	g.valid, g.measuredAt, g.offset, g.uncertainty = true, mid, ref.Sub(mid.Round(0)), rtt/2
	return nil
}

// check returns the estimated offset (reference minus local) at local, or
// an error when it exceeds the bound or cannot be measured.
func (g *driftGuard) check(ctx context.Context, local time.Time) (time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	off, ok := g.estimate(local)
	if ok && abs(off)+g.uncertainty > g.maxDrift {
		ok = false // measure again before refusing
	}
	if !ok {
		if err := g.measure(ctx); err != nil {
			return 0, err
		}
		if off, ok = g.estimate(local); !ok {
			off = g.offset
		}
	}
	if abs(off)+g.uncertainty > g.maxDrift {
		return off, fmt.Errorf("%w: reference minus local is %s (±%s), bound %s", ErrClockDrift, off, g.uncertainty, g.maxDrift)
	}
	return off, nil
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Stats are the Authority's counters and clock gauges, for monitoring.
// Export them with prometheus.NewCounterFunc / NewGaugeFunc, e.g. as
// tongxing_tsa_tokens_total{suite}, tongxing_tsa_rejections_total,
// tongxing_tsa_clock_refusals_total{cause}, tongxing_tsa_clock_ok and
// tongxing_tsa_clock_offset_seconds.
type Stats struct {
	TokensGM, TokensIntl uint64
	// Rejections counts all rejections, clock refusals included.
	Rejections uint64
	// ClockBackwards, ClockDrift and ReferenceUnavailable count refusals
	// by cause.
	ClockBackwards, ClockDrift, ReferenceUnavailable uint64
	// ClockOK is false after a clock refusal until the next token is issued.
	ClockOK bool
	// ClockOffset is the last estimated reference minus local time (0
	// without a reference clock).
	ClockOffset time.Duration
	// LastIssued is the genTime of the latest token issued.
	LastIssued time.Time
	// LastRefusal explains the last clock refusal ("" if none).
	LastRefusal string
}

type stats struct {
	tokensGM, tokensIntl, rejections atomic.Uint64
	backwards, drift, refUnavailable atomic.Uint64
	clockBad                         atomic.Bool
	offset                           atomic.Int64
	lastIssued                       atomic.Int64
	mu                               sync.Mutex
	lastRefusal                      string
}

func (s *stats) clockRefusal(err error) {
	switch {
	case errors.Is(err, ErrClockBackwards):
		s.backwards.Add(1)
	case errors.Is(err, ErrClockDrift):
		s.drift.Add(1)
	default:
		s.refUnavailable.Add(1)
	}
	s.clockBad.Store(true)
	s.mu.Lock()
	s.lastRefusal = err.Error()
	s.mu.Unlock()
}

func (s *stats) snapshot() Stats {
	s.mu.Lock()
	last := s.lastRefusal
	s.mu.Unlock()
	st := Stats{
		TokensGM: s.tokensGM.Load(), TokensIntl: s.tokensIntl.Load(), Rejections: s.rejections.Load(),
		ClockBackwards: s.backwards.Load(), ClockDrift: s.drift.Load(), ReferenceUnavailable: s.refUnavailable.Load(),
		ClockOK: !s.clockBad.Load(), ClockOffset: time.Duration(s.offset.Load()), LastRefusal: last,
	}
	if ns := s.lastIssued.Load(); ns != 0 {
		st.LastIssued = time.Unix(0, ns).UTC()
	}
	return st
}
