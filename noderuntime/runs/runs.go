// Package runs keeps the runs of a node's job and cron services: their
// history (start, end, exit code, how each ended), bounded and stored in
// the node's data dir so a node restart loses none; when a cron
// schedule's tick is due, on a clock that tests can move by hand; and
// what a tick does to the runs still running (concurrency forbid, allow
// or replace). It decides; the reconciler makes and removes the
// containers.
package runs

import (
	"fmt"
	"slices"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// State is where a run is, in the words of apitypes, which pins them.
type State = apitypes.RunState

const (
	// Pending: recorded, its container not made yet.
	Pending = apitypes.RunPending
	// Running: its container was made; it may be retried by the restart
	// policy while it stays running.
	Running   = apitypes.RunRunning
	Succeeded = apitypes.RunSucceeded
	Failed    = apitypes.RunFailed
	// Skipped: a tick that started nothing (concurrency forbid, or allow
	// at its bound).
	Skipped = apitypes.RunSkipped
	// Stopped: stopped before it ended (concurrency replace, a new spec
	// of a job, zlayer down).
	Stopped = apitypes.RunStopped
	// Lost: its container went away without an exit the node saw (a node
	// that died in cluster mode, a container removed by hand).
	Lost = apitypes.RunLost
)

// Trigger is what started a run.
type Trigger = apitypes.RunTrigger

const (
	TriggerDeploy   = apitypes.RunTriggerDeploy
	TriggerSchedule = apitypes.RunTriggerSchedule
	TriggerManual   = apitypes.RunTriggerManual
)

// Run is one run of a job or cron service, kept as the API shows it:
// N numbers a service's runs from 1 and is the replica index of the run's
// container, so each run has its own container and log.
type Run = apitypes.Run

// History is a service's runs, oldest first.
type History struct {
	// Last is the number of the latest run (skips included): numbers are
	// never reused, so no two runs share a container id or a log.
	Last int   `json:"last"`
	Runs []Run `json:"runs"`
}

// Get is run n, nil when it is not kept.
func (h *History) Get(n int) *Run {
	for i := range h.Runs {
		if h.Runs[i].N == n {
			return &h.Runs[i]
		}
	}
	return nil
}

// Begin records a new pending run of hash at now.
func (h *History) Begin(hash string, trigger Trigger, tick, now time.Time) *Run {
	h.Last++
	h.Runs = append(h.Runs, Run{N: h.Last, SpecHash: hash, Trigger: trigger, State: Pending, Tick: tick, Started: now})
	return &h.Runs[len(h.Runs)-1]
}

// Skip records a tick that started nothing, and why.
func (h *History) Skip(hash string, tick, now time.Time, why string) {
	h.Last++
	h.Runs = append(h.Runs, Run{N: h.Last, SpecHash: hash, Trigger: TriggerSchedule, State: Skipped, Tick: tick, Started: now, Ended: now, Message: why})
}

// End records how run n ended (code is nil when there is no exit code).
func (h *History) End(n int, state State, code *int, now time.Time, msg string) {
	r := h.Get(n)
	if r == nil || !r.Active() {
		return
	}
	r.State, r.ExitCode, r.Ended, r.Message = state, code, now, msg
}

// Active lists the numbers of the runs still running, oldest first.
func (h *History) Active() []int {
	var out []int
	for _, r := range h.Runs {
		if r.Active() {
			out = append(out, r.N)
		}
	}
	return out
}

// Latest is the newest run that is not a skip, on hash when hash is not
// empty; nil when there is none.
func (h *History) Latest(hash string) *Run {
	for i := len(h.Runs) - 1; i >= 0; i-- {
		r := &h.Runs[i]
		if r.State != Skipped && (hash == "" || r.SpecHash == hash) {
			return r
		}
	}
	return nil
}

// Prune keeps the newest keep runs and returns the numbers of those it
// dropped. A run still running is never dropped: it would lose its
// record while its container runs on; the bound holds again once it ends.
func (h *History) Prune(keep int) []int {
	keep = max(keep, 1)
	var dropped []int
	for len(h.Runs)-len(dropped) > keep {
		i := slices.IndexFunc(h.Runs, func(r Run) bool { return !r.Active() && !slices.Contains(dropped, r.N) })
		if i < 0 {
			break
		}
		dropped = append(dropped, h.Runs[i].N)
	}
	h.Runs = slices.DeleteFunc(h.Runs, func(r Run) bool { return slices.Contains(dropped, r.N) })
	return dropped
}

// Decision is what a tick does: start a run (or skip, and why) and stop
// the runs in Stop first.
type Decision struct {
	Start bool
	Skip  string
	Stop  []int
}

// Decide is what a tick of a cron service with concurrency c does while
// the runs active are still running; bound caps the runs allowed at once
// (the service's history, so every running run keeps its record).
func Decide(c spec.Concurrency, active []int, bound int) Decision {
	if len(active) == 0 {
		return Decision{Start: true}
	}
	switch c {
	case spec.ConcurrencyReplace:
		return Decision{Start: true, Stop: slices.Clone(active)}
	case spec.ConcurrencyAllow:
		if len(active) >= max(bound, 1) {
			return Decision{Skip: fmt.Sprintf("%d runs still running, the most concurrency allow lets run at once (history)", len(active))}
		}
		return Decision{Start: true}
	default:
		return Decision{Skip: fmt.Sprintf("run %d still running (concurrency forbid)", active[len(active)-1])}
	}
}
