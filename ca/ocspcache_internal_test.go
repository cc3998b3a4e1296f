package ca

import (
	"strconv"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca/ocsp"
)

func TestOCSPCache(t *testing.T) {
	now := time.Now()
	key := ocspKey{serial: "1f", hash: ocsp.SHA1}
	e := ocspEntry{der: []byte("response"), responder: "ab", half: now.Add(time.Hour)}

	t.Run("ok/one-process", func(t *testing.T) {
		c := newOCSPCache(false)
		c.put(c.generation(), key, e)
		if got := c.get(key, "ab", now); string(got) != "response" {
			t.Fatalf("get = %q", got)
		}
		if got := c.get(key, "cd", now); got != nil {
			t.Fatal("a response of another responder certificate was served")
		}
		if got := c.get(key, "ab", now.Add(2*time.Hour)); got != nil {
			t.Fatal("a response due for re-signing was served")
		}
		c.drop("1f")
		if got := c.get(key, "ab", now); got != nil {
			t.Fatal("a dropped response was served")
		}
	})
	t.Run("ok/put-racing-a-drop-is-discarded", func(t *testing.T) {
		c := newOCSPCache(false)
		gen := c.generation() // read the status ...
		c.drop("1f")          // ... the status changes meanwhile ...
		c.put(gen, key, e)    // ... and the older answer arrives
		if got := c.get(key, "ab", now); got != nil {
			t.Fatal("a response read before a status change was kept")
		}
	})
	t.Run("ok/shared-needs-a-live-listener", func(t *testing.T) {
		c := newOCSPCache(true)
		c.put(c.generation(), key, e)
		if got := c.get(key, "ab", now); got != nil {
			t.Fatal("memory answered before the listener was up")
		}
		l := statusListener{c: c}
		l.Up()
		l.Notify(StatusChannel, "beat:"+c.self+":"+strconv.FormatInt(time.Now().UnixNano(), 10))
		c.put(c.generation(), key, e)
		if got := c.get(key, "ab", now); string(got) != "response" {
			t.Fatal("memory did not answer with a live listener")
		}
		l.Notify(StatusChannel, "beat:someone-else:"+strconv.FormatInt(time.Now().Add(time.Hour).UnixNano(), 10))
		l.Notify(StatusChannel, "serial:1f")
		if got := c.get(key, "ab", now); got != nil {
			t.Fatal("a notified status change did not drop the response")
		}
		c.put(c.generation(), key, e)
		c.heard.Store(time.Now().Add(-2 * OCSPStaleness).UnixNano())
		if got := c.get(key, "ab", now); got != nil {
			t.Fatal("memory answered with no heartbeat heard within the staleness bound")
		}
		c.heard.Store(time.Now().UnixNano())
		l.Down(nil)
		if got := c.get(key, "ab", now); got != nil {
			t.Fatal("memory answered with the listener down")
		}
	})
}
