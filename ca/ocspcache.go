package ca

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tongxing/tongxing/ca/ocsp"
	"github.com/tongxing/tongxing/store"
)

// StatusChannel is the PostgreSQL notification channel on which a status
// change (revoke, hold, release) names the certificate's serial
// ("serial:HEX"), sent when the change commits, so that every replica drops
// what it remembers of that certificate at once.
const StatusChannel = "tongxing_ca_status"

// OCSP memory cache bounds.
const (
	// OCSPStaleness bounds how old a replica's knowledge of status changes
	// may be while it answers from memory: on PostgreSQL a replica answers
	// from memory only while its notification session has delivered,
	// within this bound, a heartbeat it sent itself (notifications arrive in
	// commit order, so every change committed before the heartbeat was
	// sent has been heard). Otherwise it reads the database.
	OCSPStaleness = time.Second
	// ocspHeartbeat is how often a replica sends itself a heartbeat.
	ocspHeartbeat = 200 * time.Millisecond
	// ocspCacheEntries bounds the responses kept in memory (about 1 KiB each).
	ocspCacheEntries = 100_000
)

// ocspCache keeps pre-signed responses (single certificate, no nonce) in
// memory. Entries are dropped when their certificate's status changes, on
// this replica (the status hook) or on another (a notification on
// [StatusChannel]); a put that raced with a drop is discarded by comparing
// generations.
type ocspCache struct {
	shared bool // replicas share the database: trust memory only while listening

	mu      sync.RWMutex
	entries map[ocspKey]ocspEntry

	gen   atomic.Uint64 // bumped by every drop
	heard atomic.Int64  // send time (unix ns) of the newest own heartbeat heard
	up    atomic.Bool   // the notification session is listening

	self string // this process's heartbeat name
}

type ocspKey struct {
	serial string
	hash   ocsp.Hash
}

type ocspEntry struct {
	der       []byte
	responder string    // serial of the responder certificate that signed it
	half      time.Time // re-sign after
}

func newOCSPCache(shared bool) *ocspCache {
	var b [8]byte
	rand.Read(b[:])
	return &ocspCache{shared: shared, entries: map[ocspKey]ocspEntry{}, self: hex.EncodeToString(b[:])}
}

// live reports whether memory may answer now. It reads the wall clock
// (heartbeats carry wall-clock times), not the authority's clock.
func (c *ocspCache) live() bool {
	if !c.shared {
		return true
	}
	return c.up.Load() && time.Since(time.Unix(0, c.heard.Load())) < OCSPStaleness
}

// get returns the remembered response for key, if memory may answer and it
// was signed by responder and is not due for re-signing at now.
func (c *ocspCache) get(key ocspKey, responder string, now time.Time) []byte {
	if !c.live() {
		return nil
	}
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || e.responder != responder || !now.Before(e.half) {
		return nil
	}
	return e.der
}

// generation returns the drop generation, to be passed to put.
func (c *ocspCache) generation() uint64 { return c.gen.Load() }

// put remembers a response read or signed after generation gen, unless a
// drop happened since (the response may predate a status change).
func (c *ocspCache) put(gen uint64, key ocspKey, e ocspEntry) {
	if !c.live() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.entries) >= ocspCacheEntries {
		n := 0
		for k := range c.entries { // random order: drop about a tenth
			delete(c.entries, k)
			if n++; n >= ocspCacheEntries/10 {
				break
			}
		}
	}
	c.entries[key] = e
}

// drop forgets everything remembered of serial ("" forgets everything).
func (c *ocspCache) drop(serial string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	if serial == "" {
		clear(c.entries)
		return
	}
	for k := range c.entries {
		if k.serial == serial {
			delete(c.entries, k)
		}
	}
}

// listen keeps the cache in step with the other replicas until ctx ends:
// it hears status changes and its own heartbeats on [StatusChannel].
func (c *ocspCache) listen(ctx context.Context, db *store.DB, onDown func(error)) {
	if !c.shared {
		return
	}
	go func() {
		t := time.NewTicker(ocspHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			_ = db.Notify(ctx, StatusChannel, "beat:"+c.self+":"+strconv.FormatInt(time.Now().UnixNano(), 10))
		}
	}()
	_ = db.Listen(ctx, []string{StatusChannel}, ocspHeartbeat, statusListener{c: c, onDown: onDown})
}

// statusListener is the cache's store.Listener.
type statusListener struct {
	c      *ocspCache
	onDown func(error)
}

// Up: changes may have been missed while no session listened.
func (l statusListener) Up() {
	l.c.drop("")
	l.c.up.Store(true)
}

func (l statusListener) Notify(_, payload string) {
	if serial, ok := strings.CutPrefix(payload, "serial:"); ok {
		l.c.drop(serial)
		return
	}
	if rest, ok := strings.CutPrefix(payload, "beat:"+l.c.self+":"); ok {
		if ns, err := strconv.ParseInt(rest, 10, 64); err == nil && ns > l.c.heard.Load() {
			l.c.heard.Store(ns)
		}
	}
}

func (l statusListener) Down(err error) {
	l.c.up.Store(false)
	l.c.drop("")
	if l.onDown != nil {
		l.onDown(err)
	}
}
