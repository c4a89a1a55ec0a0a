// Package changes broadcasts "the state moved on" from one publisher to any
// number of waiters: a version counter, and a channel that the next Publish
// closes. Waiters re-read the state they care about after waking, so a
// burst of publishes costs them one wake-up, a slow waiter never holds up
// the publisher, and nothing is queued per waiter.
package changes

import (
	"context"
	"sync"
)

// Source is the waiting side of a Feed, for code that must not publish.
type Source interface {
	// Version is the number of changes published so far.
	Version() uint64
	// After returns a channel closed once the version differs from v.
	After(v uint64) <-chan struct{}
}

// Feed is a version counter whose every change wakes all its waiters. The
// zero value is ready to use; a Feed must not be copied after first use.
type Feed struct {
	mu      sync.Mutex
	version uint64
	// next is closed and dropped by the next Publish; it is made only when
	// someone waits, so publishing with no waiters allocates nothing.
	next chan struct{}
}

// closed is handed to a waiter whose version is already stale.
var closed = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// Publish records a change, wakes every waiter and returns the new version.
func (f *Feed) Publish() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	if f.next != nil {
		close(f.next)
		f.next = nil
	}
	return f.version
}

// Version is the number of changes published so far.
func (f *Feed) Version() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version
}

// After returns a channel closed once the version differs from v. A v
// ahead of the feed (a version of an earlier process, handed back by a
// client after a restart) counts as changed: the caller cannot have seen
// this feed's state.
func (f *Feed) After(v uint64) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.version != v {
		return closed
	}
	if f.next == nil {
		f.next = make(chan struct{})
	}
	return f.next
}

// Wait blocks until the version differs from v or ctx ends, and returns
// the version then (with ctx's error if it ended first).
func (f *Feed) Wait(ctx context.Context, v uint64) (uint64, error) {
	return Wait(ctx, f, v)
}

// Wait is Feed.Wait for any Source.
func Wait(ctx context.Context, s Source, v uint64) (uint64, error) {
	select {
	case <-s.After(v):
		return s.Version(), nil
	case <-ctx.Done():
		return s.Version(), ctx.Err()
	}
}
