package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// slot is one replica index of a service: the replica on the current
// spec, if any, and those on older specs.
type slot struct {
	cur      *Replica
	old      []*Replica
	removing bool // a replica of this index is stopping
}

// roll converges the indices of service name this node runs and returns
// the creations to run. ok says whether the service's dependencies allow
// new replicas.
//
// A replica of an older spec is replaced only while fewer than
// update.parallelism indices are busy: being replaced, stopping, or
// without a ready replica. So when every replica was ready, at least
// count - parallelism stay ready throughout. Under start-first (up to
// update.max_surge at a time) the new replica starts beside the old one,
// which stops once the new one is ready; under stop-first the old one
// stops first. Indices are taken lowest first.
func (c *Controller) roll(ctx context.Context, d *spec.Deployment, name string, st *svcState, ok bool, all []*Replica, byIndex map[int][]*Replica) []func() {
	s := d.Services[name]
	key := d.Deployment + "/" + name
	hash := s.Hash()
	want := s.Scale.Count()
	order, parallelism, surge, monitor, action := s.Policy()

	slots := map[int]*slot{}
	c.mu.Lock()
	for i := 1; i <= want; i++ {
		if c.owner(d.Deployment, name, i) != OwnerHere {
			continue
		}
		sl := &slot{}
		for _, r := range byIndex[i] {
			if r.Hash == hash {
				sl.cur = r
			} else {
				sl.old = append(sl.old, r)
			}
		}
		slots[i] = sl
	}
	for _, r := range all {
		if sl := slots[r.Index]; sl != nil && r.removing {
			sl.removing = true
		}
	}
	states := map[int]slotState{}
	for i, sl := range slots {
		ss := slotState{hasCur: sl.cur != nil, hasOld: len(sl.old) > 0, removing: sl.removing}
		ss.curReady = sl.cur != nil && isReady(sl.cur)
		for _, r := range sl.old {
			ss.oldReady = ss.oldReady || isReady(r)
		}
		states[i] = ss
	}
	if st.failedHash != "" && st.failedHash != hash {
		// A new spec (a deploy, a rollback) starts a new rollout.
		st.failed, st.failedHash, st.held = "", "", false
		c.changed()
	}
	paused := st.failedHash == hash
	c.mu.Unlock()
	var rolls map[int]bool
	if ok && !paused {
		rolls = plan(states, parallelism, surge, order == spec.StopFirst)
	}

	var creates []func()
	for i := 1; i <= want; i++ {
		sl := slots[i]
		if sl == nil {
			continue
		}
		switch {
		case sl.cur == nil && len(sl.old) == 0:
			if ok {
				creates = append(creates, c.createFn(d, name, i, false))
			}
		case sl.cur == nil:
			stopFirst, roll := rolls[i]
			c.mu.Lock()
			// A lower index may have failed the rollout in this pass.
			failed := st.failedHash == hash
			c.mu.Unlock()
			if !roll || failed {
				continue
			}
			old := sl.old
			if stopFirst {
				for _, r := range old {
					c.startRemove(ctx, r)
				}
			}
			c.o.Log.Info("rolling replica", "service", key, "replica", i, "stop_first", stopFirst)
			create := c.createFn(d, name, i, true)
			// The monitor window's end needs a pass to notice it.
			time.AfterFunc(monitor, c.Trigger)
			creates = append(creates, func() {
				if stopFirst {
					for _, r := range old {
						<-r.removed
					}
				}
				create()
			})
		default:
			cur := sl.cur
			c.mu.Lock()
			ready := isReady(cur)
			retry := cur.State == StateFailed && !time.Now().Before(cur.nextRestart)
			if ready && !cur.rollStart.IsZero() {
				cur.rollStart = time.Time{}
				// A paused rollout goes on once the replacement it waits
				// for got ready after all (a slow start), as rollouts
				// always did; one that never does stays paused.
				if st.failedHash == hash && st.failedIndex == i && st.held && action == spec.FailurePause {
					st.failed, st.failedHash, st.held = "", "", false
					c.changed()
					c.o.Log.Info("rollout resumes", "service", key, "replica", i)
					defer c.Trigger()
				}
			}
			late := !ready && !cur.rollStart.IsZero() && time.Since(cur.rollStart) > monitor
			if late && st.failedHash != hash {
				st.failed = fmt.Sprintf("replica %d of %s was not ready within %s (update.monitor): %s", i, name, monitor, describe(cur))
				st.failedHash, st.failedIndex = hash, i
				st.held = action != spec.FailureRollback
				c.changed()
				c.o.Log.Warn("rollout failed", "service", key, "reason", st.failed)
			}
			c.mu.Unlock()
			if retry {
				creates = append(creates, c.createFn(d, name, i, false))
				continue
			}
			if ready && len(sl.old) > 0 {
				for _, r := range sl.old {
					c.startRemove(ctx, r)
				}
			}
			c.refreshSpec(cur, s)
			c.maybeRestart(ctx, cur, s)
		}
	}
	return creates
}

// slotState is what plan needs of a replica index.
type slotState struct {
	hasCur, curReady bool // a replica on the current spec, and whether it is ready
	hasOld, oldReady bool // replicas on older specs, and whether one is ready
	removing         bool // a replica of the index is stopping
}

// plan picks the indices to roll now, lowest first, each with whether its
// old replica stops first. An index is busy while it is being replaced,
// has a replica stopping, or has no ready replica; a roll starts only
// while fewer than parallelism other indices are busy (rolling an index
// that is not ready anyway costs nothing). Start-first rolls take the
// surge, up to surge indices with two replicas at once; past it, or under
// stop-first, the old replica stops first.
func plan(states map[int]slotState, parallelism, surge int, stopFirstOrder bool) map[int]bool {
	busy := map[int]bool{}
	surging := 0
	idx := make([]int, 0, len(states))
	for i, s := range states {
		idx = append(idx, i)
		var b bool
		switch {
		case s.removing:
			b = true
		case s.hasCur:
			b = !s.curReady || s.hasOld
		case !s.hasOld:
			b = true // not created yet
		default:
			b = !s.oldReady
		}
		if b {
			busy[i] = true
		}
		if s.hasCur && s.hasOld {
			surging++
		}
	}
	sort.Ints(idx)
	rolls := map[int]bool{}
	for _, i := range idx {
		s := states[i]
		if s.hasCur || !s.hasOld || s.removing {
			continue
		}
		others := len(busy)
		if busy[i] {
			others--
		}
		if others >= parallelism {
			break
		}
		busy[i] = true
		stopFirst := stopFirstOrder || surging >= surge
		if !stopFirst {
			surging++
		}
		rolls[i] = stopFirst
	}
	return rolls
}

// describe says what a replica is doing, for a rollout's failure. c.mu held.
func describe(r *Replica) string {
	if r.Message != "" {
		return fmt.Sprintf("%s (%s)", r.State, r.Message)
	}
	return string(r.State)
}

// Rollout is a rollout that stopped: paused where a replacement failed,
// or rolled back.
type Rollout struct {
	State   RolloutState
	Service string // the service whose replacement failed (paused)
	Message string
	// From and To are the generations of a rollback: the one that
	// failed or was undone, and the one whose spec came back.
	From, To int64
	Auto     bool
}

// RolloutState is what became of a rollout, in the words of apitypes,
// which pins them.
type RolloutState = apitypes.RolloutState

const (
	RolloutPaused     = apitypes.RolloutPaused
	RolloutRolledBack = apitypes.RolloutRolledBack
)

// paused reports the first service of rec whose rollout is paused.
func (c *Controller) paused(rec *store.Record) *Rollout {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range rec.Spec.StartOrder() {
		st := c.services[rec.Name+"/"+name]
		if st != nil && st.held && st.failedHash == rec.Spec.Services[name].Hash() {
			return &Rollout{State: RolloutPaused, Service: name, Message: "rollout paused: " + st.failed}
		}
	}
	return nil
}

// rolledBack is what rec says of the rollback that made it.
func rolledBack(rec *store.Record) *Rollout {
	rb := rec.RolledBack
	if rb == nil {
		return nil
	}
	msg := fmt.Sprintf("rolled back from generation %d to the spec of generation %d: %s", rb.From, rb.To, rb.Reason)
	return &Rollout{State: RolloutRolledBack, Message: msg, From: rb.From, To: rb.To, Auto: rb.Auto}
}

// rollBack acts on the failed rollouts of rec whose policy is rollback:
// it stores the generation before the change, once per generation. What
// cannot be rolled back stays paused, and says why.
func (c *Controller) rollBack(rec *store.Record) {
	for _, name := range rec.Spec.StartOrder() {
		s := rec.Spec.Services[name]
		_, _, _, _, action := s.Policy()
		c.mu.Lock()
		st := c.services[rec.Name+"/"+name]
		due := st != nil && action == spec.FailureRollback && st.failedHash == s.Hash() && st.rollbackTried != rec.Generation
		if due {
			st.rollbackTried = rec.Generation
		}
		var reason string
		if st != nil {
			reason = st.failed
		}
		c.mu.Unlock()
		if !due {
			continue
		}
		var why string
		switch {
		case rec.Cause == store.CauseRollback:
			// Rolling a failed rollback back would go back and forth.
			why = "this generation is itself a rollback; not rolling back again"
		case c.o.Placement != nil:
			why = "the node does not roll back a cluster's deployment by itself"
		default:
			next, err := c.o.Store.Rollback(rec.Name, store.RollbackRequest{IfGeneration: rec.Generation, Reason: reason, Auto: true, By: "node"})
			switch {
			case err == nil:
				c.o.Log.Warn("rolled back", "deployment", rec.Name, "from", rec.Generation, "to", next.RolledBack.To, "reason", reason)
				c.Trigger()
				return
			case errors.Is(err, store.ErrStale):
				return // a newer generation is already there
			default:
				why = "rollback failed: " + err.Error()
			}
		}
		c.mu.Lock()
		st.failed += "; " + why
		st.held = true
		c.changed()
		c.mu.Unlock()
	}
}
