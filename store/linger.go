package store

import "time"

// BatchLinger is how long a group-commit writer waits for more work when
// its previous batch was larger than what is queued now: under concurrent
// load one commit (one fsync) then serves as many as the last one did.
const BatchLinger = 500 * time.Microsecond

// Linger receives from queue for at most wait, handing each item to add,
// until add returns false or the time is up. It returns false if queue was
// closed.
func Linger[T any](queue <-chan T, wait time.Duration, add func(T) bool) (open bool) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case x, ok := <-queue:
			if !ok {
				return false
			}
			if !add(x) {
				return true
			}
		case <-t.C:
			return true
		}
	}
}
