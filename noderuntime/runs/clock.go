package runs

import (
	"sync"
	"time"
)

// Clock is the time a cron schedule reads: tests drive a one-minute
// schedule with a clock they move by hand, or a scaled one, instead of
// waiting for the wall clock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f once the clock has moved on by d.
	AfterFunc(d time.Duration, f func())
}

// Wall is the real clock.
type Wall struct{}

func (Wall) Now() time.Time                      { return time.Now() }
func (Wall) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// Scaled is a clock running factor times faster than the wall clock from
// the moment it was made: with factor 60 a one-minute schedule ticks
// every second. It is for tests of a whole node (ZLAYER_TEST_CLOCK).
type Scaled struct {
	start  time.Time
	factor float64
}

// NewScaled makes a clock that runs factor times as fast as the wall
// clock, starting at the wall clock's now.
func NewScaled(factor float64) *Scaled {
	return &Scaled{start: time.Now(), factor: max(factor, 1)}
}

func (s *Scaled) Now() time.Time {
	el := time.Since(s.start)
	return s.start.Add(time.Duration(float64(el) * s.factor))
}

func (s *Scaled) AfterFunc(d time.Duration, f func()) {
	time.AfterFunc(time.Duration(float64(d)/s.factor), f)
}

// Manual is a clock that moves only when told (Advance), for tests.
type Manual struct {
	mu     sync.Mutex
	now    time.Time
	timers []manualTimer
}

type manualTimer struct {
	at time.Time
	f  func()
}

// NewManual makes a clock standing at now.
func NewManual(now time.Time) *Manual { return &Manual{now: now} }

func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

func (m *Manual) AfterFunc(d time.Duration, f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.timers = append(m.timers, manualTimer{at: m.now.Add(d), f: f})
}

// Advance moves the clock on by d and calls the functions that came due,
// outside its lock (they may read the clock).
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	m.now = m.now.Add(d)
	var due []func()
	kept := m.timers[:0]
	for _, t := range m.timers {
		if t.at.After(m.now) {
			kept = append(kept, t)
		} else {
			due = append(due, t.f)
		}
	}
	m.timers = kept
	m.mu.Unlock()
	for _, f := range due {
		f()
	}
}
