package gateway

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token-bucket rate: Rate events per second with bursts of
// Burst. A zero Rate means unlimited.
type Limit struct {
	Rate  float64 `yaml:"rate" json:"rate"`
	Burst int     `yaml:"burst" json:"burst"`
}

// limiters holds one token bucket per key (a caller or a resource). Buckets
// idle for ten minutes are dropped. Limits are per process: with N
// replicas behind a balancer the effective limit is up to N times higher.
type limiters struct {
	def       Limit
	overrides map[string]Limit
	now       func() time.Time

	mu   sync.Mutex
	m    map[string]*bucket
	last time.Time
}

type bucket struct {
	l    *rate.Limiter
	used time.Time
}

func newLimiters(def Limit, overrides map[string]Limit, now func() time.Time) *limiters {
	return &limiters{def: def, overrides: overrides, now: now, m: map[string]*bucket{}}
}

// allow takes one token for key; when none is left it returns false and how
// long until one is.
func (ls *limiters) allow(key string) (bool, time.Duration) {
	lim := ls.def
	if o, ok := ls.overrides[key]; ok {
		lim = o
	}
	if lim.Rate <= 0 {
		return true, 0
	}
	now := ls.now()
	ls.mu.Lock()
	if now.Sub(ls.last) > time.Minute {
		for k, b := range ls.m {
			if now.Sub(b.used) > 10*time.Minute {
				delete(ls.m, k)
			}
		}
		ls.last = now
	}
	b := ls.m[key]
	if b == nil {
		burst := lim.Burst
		if burst < 1 {
			burst = max(1, int(math.Ceil(lim.Rate)))
		}
		b = &bucket{l: rate.NewLimiter(rate.Limit(lim.Rate), burst)}
		ls.m[key] = b
	}
	b.used = now
	ls.mu.Unlock()
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
