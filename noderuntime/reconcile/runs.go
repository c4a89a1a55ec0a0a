package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/runs"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// Jobs and cron services. Each run is a replica whose index is the run's
// number, so it has its own container and log; the container is kept,
// stopped, until its run drops out of the service's history. The runs'
// history (package runs) is what the node knows of them: a run is ended
// there once, and a run that ended is never restarted, whatever the node
// finds of its container after a restart.

// ErrNotRunnable: the service is not a job or cron service.
var ErrNotRunnable = errors.New("not a job or cron service")

// ErrRunActive: a run still runs and the service's concurrency forbids
// another.
var ErrRunActive = errors.New("a run is still running")

// ErrNotHere: in a cluster, another node runs the service's runs.
var ErrNotHere = errors.New("the service's runs are on another node")

// runOwner is where dep/svc's runs go: the owner of its replica 1, so a
// cluster runs each schedule once.
func (c *Controller) runOwner(dep, svc string) Owner { return c.owner(dep, svc, 1) }

// runService converges a job or cron service: it follows its runs'
// containers into the history, starts the run a job's spec or a cron tick
// asks for, stops what concurrency replace or a new job spec stops, and
// drops what falls out of the history.
func (c *Controller) runService(ctx context.Context, d *spec.Deployment, name string) ([]func(), error) {
	s := d.Services[name]
	key := d.Deployment + "/" + name
	all := c.serviceReplicas(d.Deployment, name)
	if c.o.Runs == nil {
		c.setMessage(key, "this node keeps no runs: job and cron services cannot run")
		return nil, nil
	}
	switch c.runOwner(d.Deployment, name) {
	case OwnerUnknown:
		return nil, nil
	case OwnerElsewhere:
		return nil, c.runsMoved(ctx, d.Deployment, name, all)
	}
	_, ok := c.waitDeps(d, name)
	hash := s.Hash()
	now := c.o.Clock.Now()
	byN := map[int]*Replica{}
	for _, r := range all {
		byN[r.Index] = r
	}
	var creates []func()
	var remove []*Replica
	dirty := false
	err := c.o.Runs.Update(d.Deployment, name, func(h *runs.History) (bool, error) {
		for i := range h.Runs {
			run := &h.Runs[i]
			if !run.Active() {
				continue
			}
			r := byN[run.N]
			switch {
			case r == nil && run.State == runs.Pending && ok:
				creates = append(creates, c.createFn(d, name, run.N, false))
				run.State, dirty = runs.Running, true
			case r == nil && run.State == runs.Running:
				run.State, run.Ended, run.Message, dirty = runs.Lost, now, "its container is gone", true
			case r != nil:
				if c.followRun(ctx, s, hash, run, r, now, &creates) {
					dirty = true
				}
			}
		}
		// A replica whose run ended is left exited; one whose run is no
		// longer kept goes, with its log.
		for _, r := range all {
			run := h.Get(r.Index)
			c.mu.Lock()
			switch {
			case run == nil:
				remove = append(remove, r)
			case !run.Active():
				c.settleRun(r, run)
			}
			c.mu.Unlock()
		}
		if s.Scale.Count() > 0 {
			if c.startRuns(d, name, h, ok, now, byN, &creates) {
				dirty = true
			}
		}
		for _, n := range h.Prune(s.KeptRuns()) {
			dirty = true
			if r := byN[n]; r != nil {
				remove = append(remove, r)
			}
		}
		return dirty, nil
	})
	for _, r := range remove {
		c.startRemove(ctx, r)
	}
	if err != nil {
		c.setMessage(key, "runs: "+err.Error())
		return nil, err
	}
	if dirty {
		c.changed()
	}
	return creates, nil
}

// followRun brings run up to date with its replica r and reports whether
// the run changed: the replica's exit ends it, a failed create is retried,
// an exit the restart policy retries is restarted. A running job of an
// older spec is stopped: the new spec's run replaces it.
func (c *Controller) followRun(ctx context.Context, s *spec.Service, hash string, run *runs.Run, r *Replica, now time.Time, creates *[]func()) bool {
	c.mu.Lock()
	state, exit, restarts, msg, removing := r.State, r.LastExit, r.Restarts, r.Message, r.removing
	retry := state == StateFailed && !time.Now().Before(r.nextRestart)
	// A run whose container cannot be made (a pull failing, say) is
	// retried as many times as its restart policy retries an exit, then
	// failed: a run that never starts would hold a forbid schedule for ever.
	limit := s.RestartPolicy.MaxAttempts
	if s.RestartPolicy.Kind == spec.RestartNo {
		limit = 1
	}
	attempts := r.consecutive
	gaveUp := state == StateFailed && limit > 0 && attempts >= limit
	if gaveUp {
		r.noRestart = true
	}
	c.mu.Unlock()
	dirty := run.Restarts != restarts
	run.Restarts = restarts
	if run.State == runs.Pending {
		run.State, dirty = runs.Running, true
	}
	switch {
	case removing:
	case gaveUp:
		run.State, run.Ended, run.Message = runs.Failed, now, fmt.Sprintf("could not start after %d attempts: %s", attempts, msg)
		return true
	case state == StateExited:
		code := -1
		if exit != nil {
			code = exit.Code
		}
		st := runs.Succeeded
		if code != 0 {
			st = runs.Failed
			if msg == "" {
				msg = fmt.Sprintf("exited with code %d", code)
			}
		}
		run.State, run.ExitCode, run.Ended, run.Message = st, &code, endTime(exit, now), msg
		return true
	case s.Rtype == spec.RtypeJob && run.SpecHash != hash:
		c.stopRun(ctx, r)
		run.State, run.Ended, run.Message = runs.Stopped, now, "stopped: the job's spec changed"
		return true
	case retry:
		*creates = append(*creates, c.createFn(c.deploymentOf(r), r.Service, r.Index, false))
	case state == StateRestart || state == StateCrashLoop:
		c.maybeRestart(ctx, r, r.spec)
	}
	return dirty
}

// settleRun keeps r, the replica of run that ended, as the run ended: a
// node restart that lost its task (the shim went with containerd) found an
// exit of unknown code that the restart policy would act on; the history
// has the real one. c.mu held.
func (c *Controller) settleRun(r *Replica, run *runs.Run) {
	r.noRestart = true
	if r.State == StateRestart || r.State == StateCrashLoop || r.State == StateUnknown {
		r.State, r.Message = StateExited, run.Message
		c.changed()
	}
	if run.ExitCode != nil && r.State == StateExited && (r.LastExit == nil || r.LastExit.Code != *run.ExitCode) {
		r.LastExit = &ExitInfo{Code: *run.ExitCode, At: run.Ended}
		c.changed()
	}
}

// deploymentOf is the spec a run's replica was made from, for a retried
// create: only its own service is read.
func (c *Controller) deploymentOf(r *Replica) *spec.Deployment {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &spec.Deployment{Deployment: r.Deployment, Services: map[string]*spec.Service{r.Service: r.spec}}
}

func endTime(exit *ExitInfo, now time.Time) time.Time {
	if exit != nil && !exit.At.IsZero() {
		return exit.At
	}
	return now
}

// startRuns starts what the service asks for now, and reports whether the
// history changed: a job's first run on its current spec (or a new one
// after a run was lost), a cron service's run when its tick is due, as its
// concurrency says.
func (c *Controller) startRuns(d *spec.Deployment, name string, h *runs.History, ok bool, now time.Time, byN map[int]*Replica, creates *[]func()) bool {
	s := d.Services[name]
	key := d.Deployment + "/" + name
	hash := s.Hash()
	if s.Rtype == spec.RtypeJob {
		if last := h.Latest(hash); (last != nil && last.State != runs.Lost) || !ok {
			return false
		}
		run := h.Begin(hash, runs.TriggerDeploy, time.Time{}, now)
		*creates = append(*creates, c.createFn(d, name, run.N, false))
		run.State = runs.Running
		return true
	}
	c.mu.Lock()
	t := c.tickers[key]
	c.mu.Unlock()
	if t == nil || t.Expr() != s.Schedule {
		var err error
		if t, err = runs.NewTicker(s.Schedule, now); err != nil {
			c.setMessage(key, err.Error())
			return false
		}
		c.mu.Lock()
		c.tickers[key] = t
		c.mu.Unlock()
	}
	tick, due := t.Due(now)
	c.arm(key, t.Next(), now)
	if !due {
		return false
	}
	if !ok {
		h.Skip(hash, tick, now, "dependencies not ready: "+c.ServiceMessage(d.Deployment, name))
		return true
	}
	dec := runs.Decide(s.Concurrency, h.Active(), s.KeptRuns())
	c.applyDecision(d, name, h, dec, runs.TriggerSchedule, tick, now, byN, creates)
	return true
}

// applyDecision stops what dec stops and starts (or skips) a run.
func (c *Controller) applyDecision(d *spec.Deployment, name string, h *runs.History, dec runs.Decision, trigger runs.Trigger, tick, now time.Time, byN map[int]*Replica, creates *[]func()) *runs.Run {
	s := d.Services[name]
	for _, n := range dec.Stop {
		if r := byN[n]; r != nil {
			c.stopRun(c.ctx(c.runCtx), r)
		}
		h.End(n, runs.Stopped, nil, now, fmt.Sprintf("stopped by a newer run (concurrency %s)", s.Concurrency))
	}
	if !dec.Start {
		h.Skip(s.Hash(), tick, now, dec.Skip)
		c.o.Log.Info("run skipped", "service", d.Deployment+"/"+name, "reason", dec.Skip)
		return nil
	}
	run := h.Begin(s.Hash(), trigger, tick, now)
	*creates = append(*creates, c.createFn(d, name, run.N, false))
	run.State = runs.Running
	c.o.Log.Info("run started", "service", d.Deployment+"/"+name, "run", run.N, "trigger", trigger)
	return run
}

// arm wakes the loop at the tick next (once per tick): a pass then finds
// it due, on whichever clock the schedule reads.
func (c *Controller) arm(key string, next, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed[key].Equal(next) {
		return
	}
	c.armed[key] = next
	c.o.Clock.AfterFunc(next.Sub(now), c.Trigger)
}

// stopRun stops r's task and keeps its container and log: the run's
// record says it was stopped, and its exit restarts nothing.
func (c *Controller) stopRun(ctx context.Context, r *Replica) {
	c.mu.Lock()
	r.noRestart = true
	stop := c.stopPolicyOf(r.spec)
	c.mu.Unlock()
	go func() {
		ctx := withNS(context.WithoutCancel(ctx), c.o.Namespace)
		if ctr, err := c.o.Client.LoadContainer(ctx, r.ID); err == nil {
			c.stopTask(ctx, ctr, stop)
		}
	}()
}

// runsMoved removes the runs of a service that a cluster now runs on
// another node; the runs still active here are recorded as lost (the new
// owner starts its own history with its next tick).
func (c *Controller) runsMoved(ctx context.Context, dep, svc string, all []*Replica) error {
	for _, r := range all {
		c.startRemove(ctx, r)
	}
	now := c.o.Clock.Now()
	return c.o.Runs.Update(dep, svc, func(h *runs.History) (bool, error) {
		dirty := false
		for _, n := range h.Active() {
			h.End(n, runs.Lost, nil, now, "the service's runs moved to another node")
			dirty = true
		}
		return dirty, nil
	})
}

// setMessage says why a service does not run.
func (c *Controller) setMessage(key, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.services[key]
	if st == nil {
		st = &svcState{}
		c.services[key] = st
	}
	if st.message != msg {
		st.message = msg
		c.changed()
	}
}

// runDone says whether dependency dep on t, a job or cron service of
// deployment depName, is met: started once a run on its current spec
// started, otherwise once one succeeded.
func (c *Controller) runDone(depName string, dep spec.Depend, t *spec.Service) (bool, string) {
	if c.o.Runs == nil {
		return false, fmt.Sprintf("waiting for %s: this node keeps no runs", dep.Service)
	}
	if p := c.o.Placement; p != nil && c.runOwner(depName, dep.Service) == OwnerElsewhere {
		return runDoneElsewhere(p, depName, dep, t)
	}
	h, err := c.o.Runs.Read(depName, dep.Service)
	if err != nil {
		return false, fmt.Sprintf("waiting for %s: %v", dep.Service, err)
	}
	hash := t.Hash()
	if t.Rtype == spec.RtypeCron {
		hash = ""
	}
	last := h.Latest(hash)
	switch {
	case last == nil:
		return false, fmt.Sprintf("waiting for %s to run", dep.Service)
	case dep.Condition == spec.DependsStarted:
		return true, ""
	case last.State == runs.Succeeded:
		return true, ""
	case last.Active():
		return false, fmt.Sprintf("waiting for %s to complete (run %d %s)", dep.Service, last.N, last.State)
	default:
		return false, fmt.Sprintf("waiting for %s to complete: run %d %s (%s)", dep.Service, last.N, last.State, last.Message)
	}
}

// RunDoneKey is the hash under which a cluster's servers count, in
// Placement.ReadyElsewhere, the runs of a job or cron service on other
// nodes: those that started (started) or succeeded on spec hash (any
// spec when hash is empty). It cannot be a spec hash, so the counts of
// services' ready replicas stay apart.
func RunDoneKey(started bool, hash string) string {
	if started {
		return "run-started:" + hash
	}
	return "run-succeeded:" + hash
}

// runDoneElsewhere is runDone for a job or cron service that another node
// of the cluster runs: what the servers say of its runs' containers there.
func runDoneElsewhere(p Placement, depName string, dep spec.Depend, t *spec.Service) (bool, string) {
	hash := t.Hash()
	if t.Rtype == spec.RtypeCron {
		hash = ""
	}
	started := dep.Condition == spec.DependsStarted
	if p.ReadyElsewhere(depName, dep.Service, RunDoneKey(started, hash)) > 0 {
		return true, ""
	}
	if started {
		return false, fmt.Sprintf("waiting for %s to run (on another node)", dep.Service)
	}
	return false, fmt.Sprintf("waiting for %s to complete (on another node)", dep.Service)
}

// runnable is service svc of rec when this node runs its runs.
func (c *Controller) runnable(rec *store.Record, svc string) (*spec.Service, error) {
	s := rec.Spec.Services[svc]
	switch {
	case s == nil:
		return nil, fmt.Errorf("deployment %s has no service %q: %w", rec.Name, svc, store.ErrNoService)
	case !s.RunsToCompletion():
		return nil, fmt.Errorf("%s/%s is rtype %s: %w", rec.Name, svc, s.Kind(), ErrNotRunnable)
	case c.o.Runs == nil:
		return nil, errors.New("this node keeps no runs")
	case c.runOwner(rec.Name, svc) != OwnerHere:
		return nil, fmt.Errorf("%s/%s: %w", rec.Name, svc, ErrNotHere)
	}
	return s, nil
}

// RunNow starts a run of dep/svc now (zlayer job run), as a tick would
// under the service's concurrency, except that a tick forbid would skip
// is refused (ErrRunActive) instead of recorded.
func (c *Controller) RunNow(rec *store.Record, svc string) (runs.Run, error) {
	s, err := c.runnable(rec, svc)
	if err != nil {
		return runs.Run{}, err
	}
	byN := map[int]*Replica{}
	for _, r := range c.serviceReplicas(rec.Name, svc) {
		byN[r.Index] = r
	}
	var started runs.Run
	var creates []func()
	now := c.o.Clock.Now()
	err = c.o.Runs.Update(rec.Name, svc, func(h *runs.History) (bool, error) {
		conc := s.Concurrency
		if s.Rtype == spec.RtypeJob {
			// A job has no schedule to overlap: a second run waits for
			// the first like forbid.
			conc = spec.ConcurrencyForbid
		}
		dec := runs.Decide(conc, h.Active(), s.KeptRuns())
		if !dec.Start {
			return false, fmt.Errorf("%s/%s: %w: %s", rec.Name, svc, ErrRunActive, dec.Skip)
		}
		run := c.applyDecision(rec.Spec, svc, h, dec, runs.TriggerManual, time.Time{}, now, byN, &creates)
		started = *run
		return true, nil
	})
	if err != nil {
		return runs.Run{}, err
	}
	for _, f := range creates {
		go f()
	}
	c.Trigger()
	return started, nil
}

// Runs lists the kept runs of dep/svc, newest first, with the schedule's
// next tick on this node.
func (c *Controller) Runs(rec *store.Record, svc string) (apitypes.RunList, error) {
	s, err := c.runnable(rec, svc)
	if err != nil {
		return apitypes.RunList{}, err
	}
	h, err := c.o.Runs.Read(rec.Name, svc)
	if err != nil {
		return apitypes.RunList{}, err
	}
	out := apitypes.RunList{Deployment: rec.Name, Service: svc, Rtype: string(s.Kind()), Schedule: s.Schedule, Next: c.nextTick(rec.Name, svc), Runs: []apitypes.Run{}}
	for i := len(h.Runs) - 1; i >= 0; i-- {
		out.Runs = append(out.Runs, h.Runs[i])
	}
	return out, nil
}

// nextTick is the tick dep/svc's schedule waits for here (zero: none).
func (c *Controller) nextTick(dep, svc string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.tickers[dep+"/"+svc]; t != nil {
		return t.Next()
	}
	return time.Time{}
}

// runStatus adds to ds what the history says of its job and cron
// services: the last run and the next tick.
func (c *Controller) runStatus(rec *store.Record, ds *DeploymentStatus) {
	if c.o.Runs == nil {
		return
	}
	for i := range ds.Services {
		ss := &ds.Services[i]
		s := rec.Spec.Services[ss.Name]
		if s == nil || !s.RunsToCompletion() {
			continue
		}
		sr := &apitypes.ServiceRuns{Rtype: string(s.Kind()), Schedule: s.Schedule, Next: c.nextTick(rec.Name, ss.Name)}
		if h, err := c.o.Runs.Read(rec.Name, ss.Name); err == nil {
			hash := s.Hash()
			if s.Rtype == spec.RtypeCron {
				hash = ""
			}
			if last := h.Latest(hash); last != nil {
				l := *last
				sr.Last = &l
			}
		}
		ss.Runs = sr
	}
}

// forgetRuns drops the histories of services that are no longer
// deployed (a quarantined deployment's are kept, as its replicas are).
func (c *Controller) forgetRuns(desired map[string]*store.Record, held map[string]bool) {
	if c.o.Runs == nil {
		return
	}
	kept, err := c.o.Runs.Services()
	if err != nil {
		c.o.Log.Warn("runs", "err", err)
		return
	}
	for _, k := range kept {
		rec := desired[k[0]]
		if held[k[0]] && rec == nil {
			continue
		}
		if rec != nil {
			if s := rec.Spec.Services[k[1]]; s != nil && s.RunsToCompletion() {
				continue
			}
		}
		if len(c.serviceReplicas(k[0], k[1])) > 0 {
			continue // its containers go first, then the record
		}
		if err := c.o.Runs.Forget(k[0], k[1]); err != nil {
			c.o.Log.Warn("runs", "err", err)
		}
		c.mu.Lock()
		delete(c.tickers, k[0]+"/"+k[1])
		delete(c.armed, k[0]+"/"+k[1])
		c.mu.Unlock()
	}
}
