// Package reconcile converges containerd's containers towards the desired
// deployments in the store: it pulls images, creates and starts replicas in
// depends order, rolls changed replicas by their update policy (rolling
// back or pausing a rollout whose replacements never get ready), removes orphans,
// restarts exited replicas by their restart policy with capped exponential
// backoff, gates readiness on health checks, and on start adopts the
// containers an earlier node process left running.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strconv"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"golang.org/x/sync/singleflight"

	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/metrics"
	"github.com/zlayer/zlayer/noderuntime/registry"
	"github.com/zlayer/zlayer/noderuntime/runs"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
	"github.com/zlayer/zlayer/shim/contract"
	"github.com/zlayer/zlayer/shim/logfile"
)

// Container labels: the controller's whole view of a container comes from
// these, so a restarted node can adopt what it finds.
const (
	LabelDeployment = "zlayer.deployment"
	LabelService    = "zlayer.service"
	LabelReplica    = "zlayer.replica"
	LabelHash       = "zlayer.spec-hash"
	LabelRestarts   = "zlayer.restarts"
	// LabelHealthy keeps the last health verdict, so a restarted node
	// does not hold adopted replicas out of service until a check runs.
	LabelHealthy    = "zlayer.healthy"
	AnnotationGroup = contract.GroupAnnotation

	RuntimeZLayer = contract.Runtime
	RuntimeRunc   = "io.containerd.runc.v2"
)

// Options configure a Controller.
type Options struct {
	Client      *containerd.Client
	Namespace   string
	Snapshotter string
	Runtime     string
	StateDir    string // logs/<ns>/<id>.log and exits/<ns>/<id>.json
	DataDir     string // volumes/ and runc state
	Registries  *registry.Registries
	Store       *store.Store
	Metrics     *metrics.Registry
	Networks    Networks
	Log         *slog.Logger
	// StopTimeout is how long a replica gets between SIGTERM and SIGKILL.
	StopTimeout time.Duration
	// LogOptions rotate replicas' logs; zero fields take the shim's defaults.
	LogOptions logfile.Options
	// LoggerBinary is zlayer-logger, which writes replicas' logs under
	// runtimes other than ours (runc's shim runs it per task).
	LoggerBinary string
	// Parallel bounds concurrent container creations (pulls do not count:
	// they wait on registries, not on the node).
	Parallel int
	// PullProgressTimeout fails a pull whose registry sends nothing for
	// this long (default 1m); a big image that keeps arriving is not cut off.
	PullProgressTimeout time.Duration
	// CreateTimeout bounds creating a container and starting its task
	// (default 2m), so a wedged shim fails that replica, not the node.
	CreateTimeout time.Duration
	// BeforeStop runs before a replica is stopped for good (removal, scale
	// down, rolling replacement): node networking drains it from the ingress.
	BeforeStop func(ctx context.Context, id string)
	// Placement is set in cluster mode: the node runs only the replica
	// indices the cluster's scheduler assigned to it, and a service's
	// dependencies count the replicas ready on every node.
	Placement Placement
	// Secrets gives the values of the secrets services use ($S: env and
	// secrets files); nil: a spec using one fails its replicas.
	Secrets SecretSource
	// SecretsDir is a node-private tmpfs where replicas' file secrets are
	// written for their bind mounts (one folder per replica, removed with it).
	SecretsDir string
	// Runs keeps the runs of job and cron services; nil: such services
	// wait, saying the node keeps no runs.
	Runs *runs.Book
	// Clock is what cron schedules read (default the wall clock); tests
	// drive schedules with a manual or scaled one.
	Clock runs.Clock
}

// SecretSource is the node's secret store as the controller reads it.
type SecretSource interface {
	Value(name string) (value []byte, version int64, err error)
}

// Placement is what a cluster tells a node's controller about replicas
// beyond its own.
type Placement interface {
	// Owner says where replica index of dep/svc runs.
	Owner(dep, svc string, index int) Owner
	// ReadyElsewhere counts the replicas of dep/svc on the spec hash that
	// are ready on other nodes; for a job or cron service run elsewhere,
	// hash is RunDoneKey's and the count that of its runs.
	ReadyElsewhere(dep, svc, hash string) int
}

// Owner is where a cluster runs a replica index.
type Owner int

const (
	// OwnerHere: this node runs it.
	OwnerHere Owner = iota
	// OwnerElsewhere: another node runs it; a copy here is removed.
	OwnerElsewhere
	// OwnerUnknown: not placed yet, or this node has not heard from the
	// cluster: a replica here is left as it is and none is made, so a
	// node never stops what it cannot know to be unwanted.
	OwnerUnknown
)

// Controller is the reconciler.
type Controller struct {
	o Options

	mu       sync.Mutex
	replicas map[string]*Replica // by container id
	services map[string]*svcState
	trigger  chan struct{}
	passes   int64
	adopted  bool
	ready    chan struct{}      // closed after the first converged pass after start
	slots    chan struct{}      // Parallel container creations at a time
	pulls    singleflight.Group // one pull per image at a time, whoever waits for it
	// feed moves on with every change the API and the node's networking
	// show (a replica's state, health, address; a deployment stored or
	// gone), so they wait for it instead of re-reading on a timer.
	feed changes.Feed
	// generations are the stored deployments the last pass saw.
	generations map[string]int64
	// tickers follow the schedules of cron services, by DEPLOYMENT/SERVICE;
	// armed is the tick each one's wake-up is set for.
	tickers map[string]*runs.Ticker
	armed   map[string]time.Time

	runCtx context.Context
}

type svcState struct {
	waitingSince time.Time
	message      string
	// failed is why the rollout to spec hash failedHash failed (a
	// replacement not ready within update.monitor); while it holds, no
	// further replica of that hash replaces an old one (a pause), and
	// with failure_action rollback the pass rolls the deployment back.
	failed, failedHash string
	failedIndex        int // the replica index whose replacement failed
	// held marks the failed rollout as paused: its policy is pause (until
	// that replacement gets ready after all), or the rollback it asked
	// for cannot be done. Until then a failure with policy rollback is
	// only on its way back.
	held bool
	// rollbackTried is the generation whose rollback was tried, so a
	// failed attempt is reported, not repeated every pass.
	rollbackTried int64
}

// ExitInfo is a replica's last exit.
type ExitInfo struct {
	Code      int
	At        time.Time
	Signal    int
	OOMKilled bool
}

// Replica is the controller's record of one container.
type Replica struct {
	ID, Deployment, Service, Hash string
	Index                         int
	Image, ImageDigest            string

	State     ReplicaState
	Message   string
	Healthy   *bool
	Restarts  int
	LastExit  *ExitInfo
	PID       uint32
	Addr      string
	StartedAt time.Time

	nextRestart  time.Time
	consecutive  int // exits without a long enough run in between
	removing     bool
	removed      chan struct{} // closed when removal is done
	attached     bool          // an exit watcher is running
	cancel       context.CancelFunc
	spec         *spec.Service
	healthOf     *spec.Health // the check the prober runs
	healthCancel context.CancelFunc
	waitCtx      context.Context
	keepLogs     bool // a recreated container keeps its replica's logs
	// noRestart: the replica is a run that was stopped or has ended for
	// good; its exit is not one the restart policy acts on.
	noRestart bool
	// rollStart is when a rolling replacement was first created; zero
	// once it got ready, and for replicas that replace nothing.
	rollStart time.Time
	// work is closed when the replica's create or restart in flight ends;
	// workCancel abandons it (the replica is being removed).
	work       chan struct{}
	workCancel context.CancelFunc
}

// beginWork starts r's create or restart, unless one is in flight or r is
// being removed. c.mu held.
func (c *Controller) beginWork(ctx context.Context, r *Replica) (context.Context, bool) {
	if r.work != nil || r.removing {
		return nil, false
	}
	ctx, r.workCancel = context.WithCancel(ctx)
	r.work = make(chan struct{})
	return ctx, true
}

// endWork marks r's work done and asks for a pass to follow it up.
func (c *Controller) endWork(r *Replica) {
	c.mu.Lock()
	if r.work != nil {
		close(r.work)
		r.work = nil
		r.workCancel()
	}
	c.mu.Unlock()
	c.Trigger()
}

// abandonWork cancels r's create or restart in flight and waits for it to
// end, so removal never races a container being made.
func (c *Controller) abandonWork(r *Replica) {
	c.mu.Lock()
	work, cancel := r.work, r.workCancel
	c.mu.Unlock()
	if work != nil {
		cancel()
		<-work
	}
}

func New(o Options) *Controller {
	if o.StopTimeout == 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.Parallel == 0 {
		o.Parallel = 4
	}
	if o.PullProgressTimeout <= 0 {
		o.PullProgressTimeout = time.Minute
	}
	if o.CreateTimeout <= 0 {
		o.CreateTimeout = 2 * time.Minute
	}
	if o.Networks == nil {
		o.Networks = Networks{spec.NetworkHost: HostNetwork{}}
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.Clock == nil {
		o.Clock = runs.Wall{}
	}
	c := &Controller{o: o, replicas: map[string]*Replica{}, services: map[string]*svcState{}, tickers: map[string]*runs.Ticker{}, armed: map[string]time.Time{}, trigger: make(chan struct{}, 1), ready: make(chan struct{}), slots: make(chan struct{}, o.Parallel),
		// Run replaces it; work begun before (tests drive passes directly) has one.
		runCtx: context.Background()}
	c.o.Metrics.Help("zlayer_replicas", "Replicas by deployment, service and state.")
	c.o.Metrics.Help("zlayer_replica_restarts_total", "Replica restarts done by the node.")
	c.o.Metrics.Help("zlayer_reconcile_duration_seconds", "Duration of reconcile passes.")
	c.o.Metrics.Help("zlayer_image_pull_duration_seconds", "Duration of image pulls.")
	c.o.Metrics.Gauge(c.gauges)
	return c
}

// Trigger asks for a reconcile pass soon.
func (c *Controller) Trigger() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// Ready is closed once the controller has adopted what it found and
// finished its first pass.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// Changes moves on whenever what Status, Replicas or the stored
// deployments show may have changed: read its version, then the state, then
// wait for the version to move on.
func (c *Controller) Changes() changes.Source { return &c.feed }

// changed publishes a change; c.mu may be held (the feed has its own lock
// and waiters never take c.mu while waiting).
func (c *Controller) changed() { c.feed.Publish() }

func (c *Controller) ctx(ctx context.Context) context.Context {
	return withNS(ctx, c.o.Namespace)
}

// Run adopts existing containers, then reconciles on every trigger and at
// least once a second until ctx ends. Replicas keep running when it returns:
// stopping the node is not stopping the workloads.
func (c *Controller) Run(ctx context.Context) error {
	c.runCtx = ctx
	if err := c.adopt(c.ctx(ctx)); err != nil {
		return fmt.Errorf("adopt containers: %w", err)
	}
	first := true
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		start := time.Now()
		if err := c.pass(c.ctx(ctx)); err != nil && ctx.Err() == nil {
			c.o.Log.Warn("reconcile", "err", err)
		}
		c.o.Metrics.Observe("zlayer_reconcile_duration_seconds", time.Since(start))
		if first {
			first = false
			close(c.ready)
		}
		select {
		case <-ctx.Done():
			c.mu.Lock()
			for _, r := range c.replicas {
				if r.cancel != nil {
					r.cancel()
				}
			}
			c.mu.Unlock()
			return nil
		case <-c.trigger:
		case <-tick.C:
		}
	}
}

// pass is one comparison of desired with actual state.
func (c *Controller) pass(ctx context.Context) error {
	c.mu.Lock()
	c.passes++
	c.mu.Unlock()
	recs, err := c.o.Store.List()
	if err != nil {
		return err
	}
	desired := map[string]*store.Record{}
	for _, r := range recs {
		desired[r.Name] = r
	}
	c.noteGenerations(recs)
	// A deployment whose record was quarantined (could not be decoded) is
	// not known to be unwanted: its replicas are left running, untouched,
	// until the name is deployed again.
	held := map[string]bool{}
	if q, err := c.o.Store.Quarantined(); err == nil {
		for _, e := range q {
			held[e.Key] = held[e.Key] || !e.Superseded
		}
	}
	// Orphans first: they may hold ports the desired replicas need.
	for _, r := range c.snapshotReplicas() {
		rec := desired[r.Deployment]
		if rec == nil && held[r.Deployment] {
			continue
		}
		if rec == nil || rec.Spec.Services[r.Service] == nil {
			if c.startRemove(ctx, r) {
				c.o.Log.Info("removing orphan replica", "id", r.ID)
			}
		}
	}
	c.reattach(ctx)
	var errs []error
	var creates []func()
	for _, rec := range recs {
		d := rec.Spec
		for _, name := range d.StartOrder() {
			fns, err := c.service(ctx, d, name)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s/%s: %w", d.Deployment, name, err))
			}
			creates = append(creates, fns...)
		}
		c.rollBack(rec)
	}
	c.forgetRuns(desired, held)
	// Creations run on their own (each ends with a trigger): a pass never
	// waits on a pull or a shim, so other services keep converging.
	for _, f := range creates {
		go f()
	}
	return errors.Join(errs...)
}

// noteGenerations publishes a change when the stored deployments differ
// from the last pass's: the API writes the store, and a new spec changes
// what Status reports and which routes the ingress needs.
func (c *Controller) noteGenerations(recs []*store.Record) {
	gens := make(map[string]int64, len(recs))
	for _, r := range recs {
		gens[r.Name] = r.Generation
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	same := c.generations != nil && maps.Equal(gens, c.generations)
	c.generations = gens
	if !same {
		c.changed()
	}
}

func (c *Controller) snapshotReplicas() []*Replica {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Replica, 0, len(c.replicas))
	for _, r := range c.replicas {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (c *Controller) serviceReplicas(dep, svc string) []*Replica {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Replica
	for _, r := range c.replicas {
		if r.Deployment == dep && r.Service == svc {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// owner is where index of dep/svc runs: here, for every index of a
// single node.
func (c *Controller) owner(dep, svc string, index int) Owner {
	if c.o.Placement == nil {
		return OwnerHere
	}
	return c.o.Placement.Owner(dep, svc, index)
}

// isReady is whether a replica serves: running and healthy (if checked).
func isReady(r *Replica) bool { return r.State == StateReady }

// depsSatisfied says whether svc may start new replicas, and why not.
func (c *Controller) depsSatisfied(d *spec.Deployment, s *spec.Service) (bool, string) {
	for _, dep := range s.Depends {
		if t := d.Services[dep.Service]; t.RunsToCompletion() {
			if ok, why := c.runDone(d.Deployment, dep, t); !ok {
				return false, why
			}
			continue
		}
		want := d.Services[dep.Service].Scale.Count()
		got := 0
		for _, r := range c.serviceReplicas(d.Deployment, dep.Service) {
			c.mu.Lock()
			ok := (dep.Condition == spec.DependsStarted && (r.State == StateRunning || r.State == StateReady || r.State == StateUnhealthy)) || isReady(r)
			c.mu.Unlock()
			if ok && r.Hash == d.Services[dep.Service].Hash() {
				got++
			}
		}
		if p := c.o.Placement; p != nil {
			got += p.ReadyElsewhere(d.Deployment, dep.Service, d.Services[dep.Service].Hash())
		}
		if got < max(want, 1) && want > 0 {
			return false, fmt.Sprintf("waiting for %s to be %s (%d/%d)", dep.Service, dep.Condition, got, want)
		}
	}
	return true, ""
}

// service converges one service and returns the creations to run.
func (c *Controller) service(ctx context.Context, d *spec.Deployment, name string) ([]func(), error) {
	s := d.Services[name]
	if s.RunsToCompletion() {
		return c.runService(ctx, d, name)
	}
	want := s.Scale.Count()
	all := c.serviceReplicas(d.Deployment, name)

	// Scale down: highest indices first.
	byIndex := map[int][]*Replica{}
	for _, r := range all {
		c.mu.Lock()
		removing := r.removing
		c.mu.Unlock()
		if removing {
			continue
		}
		if r.Index > want || r.Index < 1 {
			c.startRemove(ctx, r)
			continue
		}
		switch c.owner(d.Deployment, name, r.Index) {
		case OwnerElsewhere:
			c.startRemove(ctx, r)
			continue
		case OwnerUnknown:
			continue
		}
		byIndex[r.Index] = append(byIndex[r.Index], r)
	}

	st, ok := c.waitDeps(d, name)
	creates := c.roll(ctx, d, name, st, ok, all, byIndex)
	return creates, nil
}

// waitDeps says whether the dependencies of service name allow new
// replicas (or runs), keeping why not, and since when, in its state.
func (c *Controller) waitDeps(d *spec.Deployment, name string) (*svcState, bool) {
	s := d.Services[name]
	key := d.Deployment + "/" + name
	c.mu.Lock()
	st := c.services[key]
	if st == nil {
		st = &svcState{}
		c.services[key] = st
	}
	c.mu.Unlock()
	ok, why := c.depsSatisfied(d, s)
	c.mu.Lock()
	defer c.mu.Unlock()
	before := st.message
	if !ok {
		if st.waitingSince.IsZero() {
			st.waitingSince = time.Now()
		}
		st.message = why
		var timeout time.Duration
		// on_timeout: the service starts once its wait times out unless
		// one of its depends says fail.
		// one of its depends says fail; warn says so in its status.
		proceed, warn := true, false
		for _, dep := range s.Depends {
			timeout = max(timeout, dep.Timeout.D())
			switch dep.OnTimeout {
			case spec.OnTimeoutWarn:
				warn = true
			case spec.OnTimeoutContinue:
			default:
				proceed = false
			}
		}
		if time.Since(st.waitingSince) > timeout {
			st.message = why + fmt.Sprintf("; timed out after %s", timeout)
			if proceed {
				ok = true
				st.message += ", started anyway (on_timeout: warn)"
				if !warn {
					st.message = ""
				}
			}
		}
	} else {
		st.waitingSince, st.message = time.Time{}, ""
	}
	if st.message != before {
		c.changed()
	}
	return st, ok
}

// createFn makes the replica record for index and returns the creation
// to run; roll marks it as a rolling replacement, watched for readiness
// within the service's update.monitor.
func (c *Controller) createFn(d *spec.Deployment, name string, index int, roll bool) func() {
	s := d.Services[name]
	id := ContainerID(d.Deployment, name, index, s.Hash())
	r := &Replica{ID: id, Deployment: d.Deployment, Service: name, Index: index, Hash: s.Hash(), State: StateCreating, Image: s.Image.Name, spec: s}
	if roll {
		r.rollStart = time.Now()
	}
	c.mu.Lock()
	if prev, ok := c.replicas[id]; ok && prev.State == StateFailed {
		r.Restarts, r.consecutive, r.nextRestart = prev.Restarts, prev.consecutive, prev.nextRestart
		// A retried replacement is still the one the rollout waits for,
		// since its first attempt.
		if !prev.rollStart.IsZero() {
			r.rollStart = prev.rollStart
		}
	}
	if time.Now().Before(r.nextRestart) {
		c.mu.Unlock()
		return func() {}
	}
	c.replicas[id] = r
	c.changed()
	ctx, _ := c.beginWork(c.ctx(c.runCtx), r)
	c.mu.Unlock()
	return func() {
		defer c.endWork(r)
		if err := c.create(ctx, d, r); err != nil {
			c.mu.Lock()
			defer c.mu.Unlock()
			if r.removing {
				return // abandoned: the replica is going away
			}
			c.o.Log.Error("create replica", "id", id, "err", err)
			r.State, r.Message = StateFailed, err.Error()
			c.changed()
			r.consecutive++
			wait := backoff(s.RestartPolicy.Delay.D(), r.consecutive)
			r.nextRestart = time.Now().Add(wait)
			time.AfterFunc(wait, c.Trigger)
		}
	}
}

// backoff is delay * 2^(n-1), capped at 60 s.
func backoff(delay time.Duration, n int) time.Duration {
	if delay <= 0 {
		delay = time.Second
	}
	d := delay
	for i := 1; i < n && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// maybeRestart restarts an exited replica when its policy and backoff say
// so, in the background and within the create timeout: a wedged shim holds
// up that replica only. A replica whose node-side resources vanished (a node
// restart) is recreated instead.
func (c *Controller) maybeRestart(ctx context.Context, r *Replica, s *spec.Service) {
	c.mu.Lock()
	if (r.State != StateRestart && r.State != StateCrashLoop) || r.removing || time.Now().Before(r.nextRestart) {
		c.mu.Unlock()
		return
	}
	ctx, ok := c.beginWork(ctx, r)
	if !ok {
		c.mu.Unlock()
		return
	}
	r.spec = s
	c.mu.Unlock()
	go func() {
		defer c.endWork(r)
		tctx, cancel := context.WithTimeout(ctx, c.o.CreateTimeout)
		err := c.startTask(tctx, r, true)
		cancel()
		var gone *vanishedError
		if errors.As(err, &gone) {
			err = c.recreate(ctx, r, gone.why)
		} else if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("restart did not finish within %s (create timeout): %w", c.o.CreateTimeout, err)
		}
		if err != nil {
			c.mu.Lock()
			defer c.mu.Unlock()
			if r.removing {
				return
			}
			c.o.Log.Error("restart replica", "id", r.ID, "err", err)
			r.consecutive++
			wait := backoff(s.RestartPolicy.Delay.D(), r.consecutive)
			r.nextRestart = time.Now().Add(wait)
			r.Message = err.Error()
			c.changed()
			time.AfterFunc(wait, c.Trigger)
		}
	}()
}

// afterExit decides, under c.mu, what an exit leads to.
func (c *Controller) afterExit(r *Replica, ran time.Duration) {
	defer c.changed()
	s := r.spec
	if s == nil || r.noRestart {
		r.State = StateExited
		return
	}
	if ran > 10*time.Second || ran > 2*backoff(s.RestartPolicy.Delay.D(), r.consecutive) {
		r.consecutive = 0
	}
	restart := false
	switch s.RestartPolicy.Kind {
	case spec.RestartAlways, spec.RestartUnlessStopped:
		restart = true
	case spec.RestartOnFailure:
		restart = r.LastExit != nil && r.LastExit.Code != 0
	}
	if restart && s.RestartPolicy.MaxAttempts > 0 && r.Restarts >= s.RestartPolicy.MaxAttempts {
		restart = false
		r.Message = fmt.Sprintf("gave up after %d restarts", r.Restarts)
	}
	if !restart {
		r.State = StateExited
		return
	}
	r.consecutive++
	wait := backoff(s.RestartPolicy.Delay.D(), r.consecutive)
	r.nextRestart = time.Now().Add(wait)
	if r.consecutive >= 3 {
		r.State = StateCrashLoop
		r.Message = fmt.Sprintf("exited %d times in a row; next restart in %s", r.consecutive, wait.Round(time.Millisecond))
	} else {
		r.State = StateRestart
		r.Message = fmt.Sprintf("restarting in %s", wait.Round(time.Millisecond))
	}
	// Wake the loop when the backoff ends, not only at the next tick.
	time.AfterFunc(wait, c.Trigger)
}

func (c *Controller) logPath(id string) string {
	return contract.LogPath(c.o.StateDir, c.o.Namespace, id)
}

func (c *Controller) exitPath(id string) string {
	return contract.ExitPath(c.o.StateDir, c.o.Namespace, id)
}

// LogPath is where a replica's output is kept, in shim/logfile's format
// (written by the zlayer shim, or by zlayer-logger under runc's shim).
func (c *Controller) LogPath(id string) string { return c.logPath(id) }

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// refreshSpec gives a replica the latest node-side settings (health, restart
// policy), which change no container; a changed check restarts the prober.
func (c *Controller) refreshSpec(r *Replica, s *spec.Service) {
	c.mu.Lock()
	r.spec = s
	changed := !sameHealth(r.healthOf, s.Health)
	wctx := r.waitCtx
	running := r.PID != 0 && r.attached
	c.mu.Unlock()
	if changed && running && wctx != nil && wctx.Err() == nil {
		c.o.Log.Info("health check changed; restarting prober", "id", r.ID)
		c.startHealth(wctx, r)
	}
}

func sameHealth(a, b *spec.Health) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// startRemove removes r in the background (stopping may take the stop
// timeout) and reports whether it started; a pass never waits for a stop.
func (c *Controller) startRemove(ctx context.Context, r *Replica) bool {
	c.mu.Lock()
	if r.removing {
		c.mu.Unlock()
		return false
	}
	r.removing = true
	r.State = StateStopping
	r.removed = make(chan struct{})
	c.changed()
	c.mu.Unlock()
	go func() {
		defer close(r.removed)
		c.remove(withNS(context.WithoutCancel(ctx), c.o.Namespace), r)
		c.Trigger()
	}()
	return true
}
