package changes

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestAfterClosesOnPublishOnly(t *testing.T) {
	var f Feed
	v := f.Version()
	ch := f.After(v)
	if isClosed(ch) {
		t.Fatal("closed before any publish")
	}
	if got := f.Publish(); got != v+1 {
		t.Fatalf("Publish = %d, want %d", got, v+1)
	}
	if !isClosed(ch) {
		t.Fatal("not closed by publish")
	}
	if !isClosed(f.After(v)) {
		t.Fatal("a stale version must not wait")
	}
	if isClosed(f.After(v + 1)) {
		t.Fatal("the current version must wait")
	}
}

// A version ahead of the feed comes from an earlier process: its holder
// has not seen this state, so it must not wait for the next change.
func TestVersionAheadCountsAsChanged(t *testing.T) {
	var f Feed
	f.Publish()
	if !isClosed(f.After(42)) {
		t.Fatal("version from the future waits")
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	var f Feed
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := f.Wait(ctx, f.Version())
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel: %v", err)
	}
	if f.Version() != 0 {
		t.Fatal("cancel published")
	}
}

// Every waiter of a version is woken by one publish, and the publisher does
// not wait for any of them to be scheduled.
func TestPublishWakesAllWaiters(t *testing.T) {
	var f Feed
	const n = 200
	v := f.Version()
	var started, woke sync.WaitGroup
	started.Add(n)
	woke.Add(n)
	var got atomic.Int64
	for range n {
		go func() {
			defer woke.Done()
			ch := f.After(v)
			started.Done()
			<-ch
			if f.Version() > v {
				got.Add(1)
			}
		}()
	}
	started.Wait()
	f.Publish()
	woke.Wait()
	if got.Load() != n {
		t.Fatalf("%d of %d waiters saw the new version", got.Load(), n)
	}
}

// A waiter that never reads its channel does not hold up the publisher.
func TestSlowWaiterDoesNotBlockPublisher(t *testing.T) {
	var f Feed
	stuck := f.After(0)
	for range 10000 {
		f.Publish()
		_ = f.After(f.Version()) // a new waiter each time, never read
	}
	if !isClosed(stuck) || f.Version() != 10000 {
		t.Fatalf("version %d, first waiter woken %v", f.Version(), isClosed(stuck))
	}
}

// No lost wake-up: a subscriber that reads the version before the state,
// and waits on that version, always ends up seeing the last state, however
// the publishes interleave with its reads.
func TestNoLostWakeup(t *testing.T) {
	for range 50 {
		var f Feed
		var state atomic.Int64
		const last = 500
		const subs = 8
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // hang guard only
		var wg sync.WaitGroup
		seen := make([]int64, subs)
		for i := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					v := f.Version()
					s := state.Load()
					seen[i] = s
					if s == last {
						return
					}
					if _, err := f.Wait(ctx, v); err != nil {
						return
					}
				}
			}()
		}
		for i := int64(1); i <= last; i++ {
			state.Store(i)
			f.Publish()
		}
		wg.Wait()
		cancel()
		for i, s := range seen {
			if s != last {
				t.Fatalf("subscriber %d stopped at state %d of %d: a wake-up was lost", i, s, last)
			}
		}
	}
}

func TestWaitOnSource(t *testing.T) {
	var f Feed
	var s Source = &f
	done := make(chan uint64)
	go func() {
		v, _ := Wait(t.Context(), s, 0)
		done <- v
	}()
	f.Publish()
	if v := <-done; v != 1 {
		t.Fatalf("woke at version %d, want 1", v)
	}
}
