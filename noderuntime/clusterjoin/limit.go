package clusterjoin

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Throttling of token guesses. A secret of 32 base32 characters cannot be
// guessed, but answering guesses as fast as they come costs the server a
// store lookup each and fills its log; a remote IP that had maxRefusals
// tokens refused within refusalWindow waits until the oldest of them leaves
// the window before its next attempt is looked at.
const (
	maxRefusals   = 5
	refusalWindow = time.Minute
	// maxTracked bounds the IPs remembered: beyond it the one refused
	// least recently is forgotten, so a spray from many addresses costs
	// memory once, not per address.
	maxTracked = 4096
)

// refusals remembers, per remote IP, the times of its last refused tokens.
type refusals struct {
	now    func() time.Time
	window time.Duration

	mu    sync.Mutex
	byIP  map[string]*list.Element // of *ipRefusals
	order *list.List               // least recently refused first
	limit int                      // IPs tracked at most
}

type ipRefusals struct {
	ip    string
	times []time.Time // oldest first, at most maxRefusals
}

func newRefusals(now func() time.Time) *refusals {
	return &refusals{now: now, window: refusalWindow, byIP: map[string]*list.Element{}, order: list.New(), limit: maxTracked}
}

// add records a refused token from ip.
func (r *refusals) add(ip string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byIP[ip]
	if !ok {
		if r.order.Len() >= r.limit {
			oldest := r.order.Front()
			delete(r.byIP, oldest.Value.(*ipRefusals).ip)
			r.order.Remove(oldest)
		}
		e = r.order.PushBack(&ipRefusals{ip: ip})
		r.byIP[ip] = e
	}
	rec := e.Value.(*ipRefusals)
	rec.times = append(rec.times, r.now())
	if len(rec.times) > maxRefusals {
		rec.times = rec.times[len(rec.times)-maxRefusals:]
	}
	r.order.MoveToBack(e)
}

// delay is how long an attempt from ip must wait: until the oldest of its
// last maxRefusals refusals is older than the window; zero when it has had
// fewer in the window.
func (r *refusals) delay(ip string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byIP[ip]
	if !ok {
		return 0
	}
	rec := e.Value.(*ipRefusals)
	if len(rec.times) < maxRefusals {
		return 0
	}
	d := rec.times[0].Add(r.window).Sub(r.now())
	if d <= 0 {
		// Nothing of it counts any more: forget it.
		delete(r.byIP, ip)
		r.order.Remove(e)
		return 0
	}
	return d
}

func (r *refusals) tracked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byIP)
}

// wait sleeps for d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
