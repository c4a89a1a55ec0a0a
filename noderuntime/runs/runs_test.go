package runs

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 30, 0, time.UTC)

// cronSim runs a one-minute schedule on a manual clock for minutes
// minutes, each run lasting runFor: the scheduler's whole loop (tick due,
// decide, stop, start, end, prune) without a container.
type cronSim struct {
	clock *Manual
	tick  *Ticker
	h     History
	ends  map[int]time.Time // when each run started ends by itself
	most  int               // the most runs active at once
	skips int
}

func newSim(t *testing.T) *cronSim {
	t.Helper()
	clock := NewManual(t0)
	tk, err := NewTicker("* * * * *", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &cronSim{clock: clock, tick: tk, ends: map[int]time.Time{}}
}

func (s *cronSim) run(c spec.Concurrency, keep, minutes int, runFor time.Duration) {
	zero := 0
	for range minutes * 6 {
		s.clock.Advance(10 * time.Second)
		now := s.clock.Now()
		for _, n := range s.h.Active() {
			if !now.Before(s.ends[n]) {
				s.h.End(n, Succeeded, &zero, now, "")
			}
		}
		if tick, ok := s.tick.Due(now); ok {
			d := Decide(c, s.h.Active(), keep)
			for _, n := range d.Stop {
				s.h.End(n, Stopped, nil, now, "replaced")
			}
			if d.Start {
				r := s.h.Begin("h1", TriggerSchedule, tick, now)
				r.State = Running
				s.ends[r.N] = now.Add(runFor)
				s.most = max(s.most, len(s.h.Active()))
			} else {
				s.h.Skip("h1", tick, now, d.Skip)
				s.skips++
			}
		}
		s.h.Prune(keep)
	}
}

func (s *cronSim) states() map[State]int {
	out := map[State]int{}
	for _, r := range s.h.Runs {
		out[r.State]++
	}
	return out
}

func TestTickerOneMinuteOnManualClock(t *testing.T) {
	clock := NewManual(t0)
	tk, err := NewTicker("* * * * *", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 4, 10, 1, 0, 0, time.UTC); !tk.Next().Equal(want) {
		t.Fatalf("first tick %s, want %s", tk.Next(), want)
	}
	if _, ok := tk.Due(clock.Now()); ok {
		t.Fatal("due before its first tick")
	}
	clock.Advance(30 * time.Second)
	tick, ok := tk.Due(clock.Now())
	if !ok || !tick.Equal(time.Date(2026, 3, 4, 10, 1, 0, 0, time.UTC)) {
		t.Fatalf("tick %s %v at %s", tick, ok, clock.Now())
	}
	if _, ok := tk.Due(clock.Now()); ok {
		t.Fatal("one tick came due twice")
	}
	// A clock that jumps over five ticks (a stalled node) makes one run,
	// on the latest of them.
	clock.Advance(5*time.Minute + time.Second)
	tick, ok = tk.Due(clock.Now())
	if !ok || !tick.Equal(time.Date(2026, 3, 4, 10, 6, 0, 0, time.UTC)) {
		t.Fatalf("after a jump: tick %s %v", tick, ok)
	}
	if want := time.Date(2026, 3, 4, 10, 7, 0, 0, time.UTC); !tk.Next().Equal(want) {
		t.Fatalf("next after a jump %s, want %s", tk.Next(), want)
	}
}

func TestManualClockAfterFunc(t *testing.T) {
	clock := NewManual(t0)
	var fired []string
	clock.AfterFunc(time.Minute, func() { fired = append(fired, "a") })
	clock.AfterFunc(2*time.Minute, func() { fired = append(fired, "b") })
	clock.Advance(59 * time.Second)
	if len(fired) != 0 {
		t.Fatalf("fired early: %v", fired)
	}
	clock.Advance(time.Second)
	clock.Advance(2 * time.Minute)
	if strings.Join(fired, "") != "ab" {
		t.Fatalf("fired %v", fired)
	}
}

// TestForbidSkipsOverlap: runs of 90s on a one-minute schedule overlap
// every other tick; forbid skips those ticks and records the skip.
func TestForbidSkipsOverlap(t *testing.T) {
	s := newSim(t)
	s.run(spec.ConcurrencyForbid, 100, 10, 90*time.Second)
	st := s.states()
	if st[Succeeded]+st[Running] != 5 || st[Skipped] != 5 {
		t.Fatalf("forbid: %v\n%+v", st, s.h.Runs)
	}
	for _, r := range s.h.Runs {
		if r.State == Skipped && !strings.Contains(r.Message, "concurrency forbid") {
			t.Fatalf("skip says %q", r.Message)
		}
	}
	if len(s.h.Active()) > 1 {
		t.Fatalf("forbid let %d runs run at once", len(s.h.Active()))
	}
}

// TestReplaceStopsRunning: each tick stops the run still running.
func TestReplaceStopsRunning(t *testing.T) {
	s := newSim(t)
	s.run(spec.ConcurrencyReplace, 100, 10, 90*time.Second)
	st := s.states()
	if st[Stopped] != 9 || st[Running] != 1 || st[Skipped] != 0 {
		t.Fatalf("replace: %v", st)
	}
}

// TestAllowRunsAlongsideBounded: runs of 3m overlap three at a time;
// allow runs them alongside up to the history bound (2 here), skipping
// past it.
func TestAllowRunsAlongsideBounded(t *testing.T) {
	s := newSim(t)
	s.run(spec.ConcurrencyAllow, 100, 10, 150*time.Second)
	if st := s.states(); st[Skipped] != 0 || s.most != 3 {
		t.Fatalf("allow, wide bound: %v, at most %d at once", st, s.most)
	}
	s = newSim(t)
	s.run(spec.ConcurrencyAllow, 2, 10, 150*time.Second)
	if s.skips == 0 || s.most != 2 {
		t.Fatalf("allow at bound 2: %d skips, at most %d at once", s.skips, s.most)
	}
}

// TestHistoryBound: only the newest N runs are kept, never a running one
// dropped, and numbers are not reused.
func TestHistoryBound(t *testing.T) {
	s := newSim(t)
	s.run(spec.ConcurrencyForbid, 3, 20, 30*time.Second)
	if len(s.h.Runs) != 3 {
		t.Fatalf("kept %d runs, want 3", len(s.h.Runs))
	}
	ns := []int{s.h.Runs[0].N, s.h.Runs[1].N, s.h.Runs[2].N}
	if !slices.Equal(ns, []int{18, 19, 20}) || s.h.Last != 20 {
		t.Fatalf("kept %v, last %d", ns, s.h.Last)
	}
	var h History
	long := h.Begin("x", TriggerManual, time.Time{}, t0)
	long.State = Running
	for range 5 {
		h.Begin("x", TriggerManual, time.Time{}, t0)
		h.End(h.Last, Failed, nil, t0, "")
	}
	dropped := h.Prune(2)
	if len(h.Runs) != 2 || h.Runs[0].N != 1 || h.Runs[1].N != 6 || !slices.Equal(dropped, []int{2, 3, 4, 5}) {
		t.Fatalf("kept %+v, dropped %v", h.Runs, dropped)
	}
}

func TestLatest(t *testing.T) {
	var h History
	if h.Latest("") != nil {
		t.Fatal("latest of nothing")
	}
	h.Begin("a", TriggerDeploy, time.Time{}, t0)
	h.Begin("b", TriggerDeploy, time.Time{}, t0)
	h.Skip("b", t0, t0, "x")
	if r := h.Latest(""); r == nil || r.N != 2 {
		t.Fatalf("latest %+v", r)
	}
	if r := h.Latest("a"); r == nil || r.N != 1 {
		t.Fatalf("latest of a %+v", r)
	}
}

func TestScaledClock(t *testing.T) {
	c := NewScaled(600)
	start := c.Now()
	done := make(chan struct{})
	// A minute of the scaled clock is 100ms of the wall clock.
	c.AfterFunc(time.Minute, func() { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a scaled minute did not pass within 10s")
	}
	if el := c.Now().Sub(start); el < time.Minute {
		t.Fatalf("the scaled clock moved %s in a scaled minute", el)
	}
}
