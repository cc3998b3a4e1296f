package timestamp

import (
	"context"
	"math/big"
	"sync"
	"time"
)

// SerialSource hands out token serial numbers and remembers the latest
// genTime issued, so that a clock that went backwards is noticed across
// restarts and across replicas that share the source.
//
// Implementations must be safe for concurrent use. Serial numbers must be
// unique, positive and increasing; gaps are allowed.
type SerialSource interface {
	// Next reserves the next serial number for a token whose genTime is at
	// and records at. It returns the serial and the latest genTime recorded
	// so far, at included. A latest after at means that a token with a later
	// time was issued earlier; the Authority then refuses to issue (the
	// reserved serial is simply never used).
	Next(ctx context.Context, at time.Time) (serial *big.Int, latest time.Time, err error)
}

// MemorySerials is a SerialSource kept in memory. It is the Authority's
// default: serials start at the Unix time in nanoseconds when it is made,
// so they keep increasing across restarts as long as the clock moves
// forward and fewer than one token per nanosecond is issued; the latest
// genTime is not persisted. Use sqlserial for several replicas or to
// detect a clock that went backwards across a restart.
type MemorySerials struct {
	mu     sync.Mutex
	next   uint64
	latest time.Time
}

var _ SerialSource = (*MemorySerials)(nil)

// NewMemorySerials returns a source whose first serial is first (1 if 0).
func NewMemorySerials(first uint64) *MemorySerials {
	if first == 0 {
		first = 1
	}
	return &MemorySerials{next: first}
}

// Next implements SerialSource.
func (m *MemorySerials) Next(_ context.Context, at time.Time) (*big.Int, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.next
	m.next++
	if at.After(m.latest) {
		m.latest = at
	}
	return new(big.Int).SetUint64(s), m.latest, nil
}
