package nameserver

import (
	"net/netip"
	"sync"
	"time"
)

// sourceLimit is a token bucket per source address, so one replica's flood
// does not starve the others.
type sourceLimit struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the table; spoofed sources could otherwise grow it
// without end. Past it, full buckets (idle sources) are dropped.
const maxBuckets = 8192

func newSourceLimit(rate, burst int) *sourceLimit {
	return &sourceLimit{rate: float64(rate), burst: float64(burst), now: time.Now, buckets: map[netip.Addr]*bucket{}}
}

// allow takes a token from src's bucket.
func (l *sourceLimit) allow(src netip.Addr) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[src]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[src] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *sourceLimit) prune(now time.Time) {
	for a, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, a)
		}
	}
	if len(l.buckets) >= maxBuckets {
		// All busy: start over rather than grow.
		clear(l.buckets)
	}
}
