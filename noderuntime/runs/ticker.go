package runs

import (
	"time"

	"github.com/robfig/cron/v3"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// Ticker says when a cron schedule's ticks are due.
type Ticker struct {
	expr  string
	sched cron.Schedule
	next  time.Time
}

// NewTicker reads expr (as spec.ParseSchedule does) and waits for its first
// tick after now: ticks before the node knew the schedule (while it was
// down, say) are not made up for.
func NewTicker(expr string, now time.Time) (*Ticker, error) {
	sched, err := spec.ParseSchedule(expr)
	if err != nil {
		return nil, err
	}
	return &Ticker{expr: expr, sched: sched, next: sched.Next(now)}, nil
}

// Expr is the schedule the ticker follows.
func (t *Ticker) Expr() string { return t.expr }

// Next is the tick waited for.
func (t *Ticker) Next() time.Time { return t.next }

// Due reports the tick due at now, if one is, and moves on to the first
// tick after now. Ticks missed in between (a node that stalled for
// several of them) make one run, on the latest of them, as a tick run
// late still is.
func (t *Ticker) Due(now time.Time) (tick time.Time, ok bool) {
	if now.Before(t.next) {
		return time.Time{}, false
	}
	for !now.Before(t.next) {
		tick, t.next = t.next, t.sched.Next(t.next)
	}
	return tick, true
}
