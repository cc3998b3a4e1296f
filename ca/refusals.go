package ca

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tongxing/tongxing/problem"
)

// RefusalLimits bound what refused enrolments cost: per source address, a
// token bucket of refusals, and one audit entry per interval.
type RefusalLimits struct {
	// Burst is how many refused enrolments a source may have in a row
	// before it has to wait. Default 20.
	Burst int
	// Every is how often one more refusal is allowed once the burst is
	// spent. Default 3s (20 a minute).
	Every time.Duration
	// AuditInterval is the length of an audit window: the first refusal of
	// a source in a window is an audit entry of its own, the others are
	// counted and recorded in one entry when the window closes. Default 1m.
	AuditInterval time.Duration
	// MaxSources bounds the sources tracked at once. Default 65536.
	MaxSources int
}

// WithRefusalLimits sets the limits on refused enrolments (see
// [RefusalLimits]); zero fields take their defaults.
func WithRefusalLimits(l RefusalLimits) Option { return func(a *Authority) { a.refusals.lim = l } }

// ErrRateLimited: a source made too many refused enrolment requests and
// must wait.
var ErrRateLimited = errors.New("ca: too many refused enrolment requests")

// RateLimitError is a 429 answer to a source over its refusal budget.
type RateLimitError struct {
	Wait time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many refused enrolment requests from this address; try again in %d s", problem.RetryAfterSeconds(e.Wait))
}

// HTTPStatus is 429 Too Many Requests.
func (e *RateLimitError) HTTPStatus() int { return http.StatusTooManyRequests }

// RetryAfter is how long the source has to wait.
func (e *RateLimitError) RetryAfter() time.Duration { return e.Wait }

// Unwrap returns [ErrRateLimited].
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// refusals tracks refused enrolments per source. It is safe for concurrent
// use. Limits hold per process: each replica counts its own.
type refusals struct {
	lim     RefusalLimits
	mu      sync.Mutex
	sources map[string]*source
}

// source is one address's refusal state.
type source struct {
	bucket *rate.Limiter
	// The audit window: the first refusal in it was audited, count more
	// were not yet.
	windowStart time.Time
	count       int
	lastReason  string
	lastSeen    time.Time
}

func (r *refusals) defaults() {
	if r.lim.Burst <= 0 {
		r.lim.Burst = 20
	}
	if r.lim.Every <= 0 {
		r.lim.Every = 3 * time.Second
	}
	if r.lim.AuditInterval <= 0 {
		r.lim.AuditInterval = time.Minute
	}
	if r.lim.MaxSources <= 0 {
		r.lim.MaxSources = 65536
	}
	r.sources = map[string]*source{}
}

// sourceKey reduces an address (host or host:port) to the unit limited: an
// IPv4 address, or the /64 of an IPv6 address, which one host can fill.
func sourceKey(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// CheckSource tells whether a subscriber's enrolment request from addr may
// be looked at: a source over its refusal budget gets a [*RateLimitError]
// (429 with Retry-After), which counts as a refusal and is audited as one.
// A source whose requests succeed never runs out: only refusals spend the
// budget. An empty addr (an in-process caller) is never limited.
func (a *Authority) CheckSource(ctx context.Context, addr string) error {
	if addr == "" {
		return nil
	}
	now := a.now()
	r := &a.refusals
	r.mu.Lock()
	s := r.sources[sourceKey(addr)]
	if s == nil || s.bucket.TokensAt(now) >= 1 {
		r.mu.Unlock()
		return nil
	}
	wait := time.Duration((1 - s.bucket.TokensAt(now)) * float64(r.lim.Every))
	r.mu.Unlock()
	err := &RateLimitError{Wait: wait}
	if aerr := a.noteRefusal(ctx, addr, "subscriber", err, false); aerr != nil {
		return errors.Join(err, aerr)
	}
	return err
}

// RefusedEnrolment records that a subscriber's enrolment request from addr
// was refused with err: it spends one of the source's refusals (see
// [Authority.CheckSource]) and goes to the audit log, the first refusal of
// a source in an audit interval as an entry of its own, the others counted
// into one entry when the interval closes. actor names the enrolment code
// when one was recognised. With an empty addr every refusal is an entry.
func (a *Authority) RefusedEnrolment(ctx context.Context, addr, actor string, err error) error {
	return a.noteRefusal(ctx, addr, actor, err, true)
}

func (a *Authority) noteRefusal(ctx context.Context, addr, actor string, cause error, spend bool) error {
	if actor == "" {
		actor = "subscriber"
	}
	ev := AuditEvent{Action: "ca.certificate.enrol", Actor: actor, Resource: "ca:enrolment", Outcome: "failure",
		Reasons: []string{cause.Error()}, Source: addr}
	if addr == "" {
		return a.audit(ctx, ev)
	}
	now := a.now()
	r := &a.refusals
	key := sourceKey(addr)
	var pending []AuditEvent
	r.mu.Lock()
	s := r.sources[key]
	if s == nil {
		if len(r.sources) >= r.lim.MaxSources {
			pending = append(pending, r.sweep(now, true)...)
		}
		s = &source{bucket: rate.NewLimiter(rate.Every(r.lim.Every), r.lim.Burst)}
		r.sources[key] = s
	}
	if spend {
		s.bucket.AllowN(now, 1)
	}
	s.lastSeen, s.lastReason = now, cause.Error()
	first := false
	if s.windowStart.IsZero() || !now.Before(s.windowStart.Add(r.lim.AuditInterval)) {
		if s.count > 0 {
			pending = append(pending, r.summary(key, s))
		}
		s.windowStart, s.count, first = now, 0, true
	} else {
		s.count++
	}
	r.mu.Unlock()
	if first {
		pending = append(pending, ev)
	}
	var errs []error
	for _, e := range pending {
		errs = append(errs, a.audit(ctx, e))
	}
	return errors.Join(errs...)
}

// summary is the audit entry of the refusals counted in s's window. The
// caller holds r.mu.
func (r *refusals) summary(key string, s *source) AuditEvent {
	ev := AuditEvent{Action: "ca.certificate.enrol", Actor: "subscriber", Resource: "ca:enrolment", Outcome: "failure", Source: key,
		Reasons: []string{
			fmt.Sprintf("%d more refused enrolment requests from %s between %s and %s", s.count, key,
				s.windowStart.UTC().Format(time.RFC3339), s.lastSeen.UTC().Format(time.RFC3339)),
			"last: " + s.lastReason,
		}}
	s.count = 0
	return ev
}

// sweep closes the audit windows that have ended (all of them when force),
// returning their summaries, and forgets sources with nothing pending whose
// bucket is full again. When the table is still full, it forgets the oldest
// half. The caller holds r.mu.
func (r *refusals) sweep(now time.Time, force bool) []AuditEvent {
	var out []AuditEvent
	for key, s := range r.sources {
		if s.count > 0 && (force || !now.Before(s.windowStart.Add(r.lim.AuditInterval))) {
			out = append(out, r.summary(key, s))
		}
		if s.count == 0 && s.bucket.TokensAt(now) >= float64(r.lim.Burst) {
			delete(r.sources, key)
		}
	}
	if force && len(r.sources) >= r.lim.MaxSources {
		// Still full of recent sources: forget the idle ones first, then
		// any, down to half. Their counts were written above.
		cut := now.Add(-r.lim.AuditInterval)
		for _, idleOnly := range []bool{true, false} {
			for key, s := range r.sources {
				if len(r.sources) <= r.lim.MaxSources/2 {
					break
				}
				if !idleOnly || s.lastSeen.Before(cut) {
					delete(r.sources, key)
				}
			}
		}
	}
	return out
}

// FlushRefusals writes the audit entries of refusal counts whose interval
// has ended, or all of them when final is set (at shutdown), and forgets
// idle sources. The server calls it every interval.
func (a *Authority) FlushRefusals(ctx context.Context, final bool) error {
	r := &a.refusals
	r.mu.Lock()
	pending := r.sweep(a.now(), final)
	r.mu.Unlock()
	var errs []error
	for _, e := range pending {
		errs = append(errs, a.audit(ctx, e))
	}
	return errors.Join(errs...)
}

// RefusalAuditInterval is the audit window of refusals (see
// [RefusalLimits.AuditInterval]).
func (a *Authority) RefusalAuditInterval() time.Duration { return a.refusals.lim.AuditInterval }
