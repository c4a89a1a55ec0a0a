package ingress

import (
	"sync"
	"sync/atomic"
	"time"
)

// backend is the shared state of one replica address: in-flight count for
// draining, and passive failure marks. Routes that share a replica share it.
type backend struct {
	Backend
	inflight atomic.Int64
	draining atomic.Bool

	mu          sync.Mutex
	failures    int
	failedUntil time.Time
	idle        chan struct{} // closed when inflight reaches 0 while draining

	// retired is set when no route uses the backend any more.
	retired   atomic.Bool
	poolMu    sync.Mutex
	idleConns []*upConn // the fast path's keep-alive connections, most recent last
}

// failed records a connection failure: the backend is skipped for a while,
// longer after each consecutive failure (capped), while others are healthy.
func (b *backend) failed(base time.Duration) {
	b.mu.Lock()
	b.failures++
	d := base
	for i := 1; i < b.failures && d < 10*base; i++ {
		d *= 2
	}
	b.failedUntil = time.Now().Add(min(d, 10*base))
	b.mu.Unlock()
}

func (b *backend) succeeded() {
	b.mu.Lock()
	if b.failures != 0 {
		b.failures, b.failedUntil = 0, time.Time{}
	}
	b.mu.Unlock()
}

func (b *backend) healthy(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !now.Before(b.failedUntil)
}

func (b *backend) acquire() { b.inflight.Add(1) }

func (b *backend) release() {
	if b.inflight.Add(-1) == 0 && b.draining.Load() {
		b.mu.Lock()
		if b.idle != nil {
			select {
			case <-b.idle:
			default:
				close(b.idle)
			}
		}
		b.mu.Unlock()
	}
}

// route is a Route with its live backends and round-robin cursor.
type route struct {
	Route
	backends []*backend
	// local are the backends on this node when the ingress prefers them
	// and the route also has remote ones (else nil).
	local []*backend
	// next is shared by the route's versions across updates, so frequent
	// updates do not restart the rotation at the first replica.
	next *atomic.Uint64
	// reqs counts the route's http requests; shared like next.
	reqs *requestCounts
}

// pick returns the next backend round-robin, skipping draining ones, ones in
// exclude, and recently failed ones unless nothing else is left. A route
// that prefers local backends picks among them while one is healthy, and
// spreads over all of them (remote ones too) otherwise.
func (r *route) pick(exclude *backend) *backend {
	if len(r.local) > 0 {
		if b, healthy := r.pickIn(r.local, exclude); healthy {
			return b
		}
	}
	b, _ := r.pickIn(r.backends, exclude)
	return b
}

// pickIn is pick over bs; healthy is false when only a failed backend (or
// none) is left.
func (r *route) pickIn(bs []*backend, exclude *backend) (b *backend, healthy bool) {
	n := len(bs)
	if n == 0 {
		return nil, false
	}
	start := r.next.Add(1) - 1
	now := time.Now()
	var fallback *backend
	for i := 0; i < n; i++ {
		b := bs[(start+uint64(i))%uint64(n)]
		if b == exclude || b.draining.Load() {
			continue
		}
		if b.healthy(now) {
			return b, true
		}
		if fallback == nil {
			fallback = b
		}
	}
	return fallback, false
}
