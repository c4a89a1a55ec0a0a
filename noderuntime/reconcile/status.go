package reconcile

import (
	"fmt"
	"sort"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/metrics"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// ReplicaState is what a replica is doing, in the words the API reports:
// those of apitypes, which pins them.
type ReplicaState = apitypes.ReplicaState

const (
	StateCreating  = apitypes.ReplicaCreating
	StateRunning   = apitypes.ReplicaRunning
	StateReady     = apitypes.ReplicaReady
	StateUnhealthy = apitypes.ReplicaUnhealthy
	StateExited    = apitypes.ReplicaExited
	StateRestart   = apitypes.ReplicaRestarting
	StateCrashLoop = apitypes.ReplicaCrashLoop
	StateFailed    = apitypes.ReplicaFailed
	StateStopping  = apitypes.ReplicaStopping
	StateUnknown   = apitypes.ReplicaUnknown
)

// ReplicaStatus is a replica as the controller sees it; the API server
// turns it into its wire form (apitypes.ReplicaStatus).
type ReplicaStatus struct {
	ID          string
	Deployment  string
	Service     string
	Replica     int
	State       ReplicaState
	Healthy     *bool
	Restarts    int
	LastExit    *ExitInfo
	PID         uint32
	Image       string
	ImageDigest string
	SpecHash    string
	Current     bool // runs the latest spec
	StartedAt   time.Time
	Message     string
	Address     string
	// Node runs the replica (cluster mode; empty on a single node).
	Node string
}

// Wire is the replica in the API's words.
func (r ReplicaStatus) Wire() apitypes.ReplicaStatus {
	var exit *apitypes.ExitInfo
	if e := r.LastExit; e != nil {
		exit = &apitypes.ExitInfo{Code: e.Code, At: e.At, Signal: e.Signal, OOMKilled: e.OOMKilled}
	}
	return apitypes.ReplicaStatus{
		ID: r.ID, Deployment: r.Deployment, Service: r.Service, Replica: r.Replica, State: r.State,
		Healthy: r.Healthy, Restarts: r.Restarts, LastExit: exit, PID: r.PID, Image: r.Image,
		ImageDigest: r.ImageDigest, SpecHash: r.SpecHash, Current: r.Current, StartedAt: r.StartedAt,
		Message: r.Message, Address: r.Address, Node: r.Node,
	}
}

// ReplicaFromWire is a replica another node reported, as Wire gave it.
func ReplicaFromWire(w apitypes.ReplicaStatus) ReplicaStatus {
	var exit *ExitInfo
	if e := w.LastExit; e != nil {
		exit = &ExitInfo{Code: e.Code, At: e.At, Signal: e.Signal, OOMKilled: e.OOMKilled}
	}
	return ReplicaStatus{
		ID: w.ID, Deployment: w.Deployment, Service: w.Service, Replica: w.Replica, State: w.State,
		Healthy: w.Healthy, Restarts: w.Restarts, LastExit: exit, PID: w.PID, Image: w.Image,
		ImageDigest: w.ImageDigest, SpecHash: w.SpecHash, Current: w.Current, StartedAt: w.StartedAt,
		Message: w.Message, Address: w.Address, Node: w.Node,
	}
}

// ServiceStatus sums up a service.
type ServiceStatus struct {
	Name     string
	Desired  int
	Ready    int
	State    apitypes.ServiceState
	Message  string
	Replicas []ReplicaStatus
	// Runs is set for a job or cron service on the node that runs it.
	Runs *apitypes.ServiceRuns
}

// DeploymentStatus sums up a deployment.
type DeploymentStatus struct {
	Name       string
	Generation int64
	UpdatedAt  time.Time
	Ready      bool
	Services   []ServiceStatus
	// Rollout is set when a rollout stopped: paused, or rolled back (the
	// generation says so until the next one).
	Rollout *Rollout
}

func (c *Controller) replicaStatus(r *Replica, hash string) ReplicaStatus {
	return ReplicaStatus{
		ID: r.ID, Deployment: r.Deployment, Service: r.Service, Replica: r.Index, State: r.State,
		Healthy: r.Healthy, Restarts: r.Restarts, LastExit: r.LastExit, PID: r.PID, Image: r.Image,
		ImageDigest: r.ImageDigest, SpecHash: r.Hash, Current: r.Hash == hash, StartedAt: r.StartedAt,
		Message: r.Message, Address: r.Addr,
	}
}

// Status reports a stored deployment against what runs.
func (c *Controller) Status(rec *store.Record) DeploymentStatus {
	var rs []ReplicaStatus
	for _, name := range rec.Spec.StartOrder() {
		hash := rec.Spec.Services[name].Hash()
		for _, r := range c.serviceReplicas(rec.Name, name) {
			c.mu.Lock()
			rs = append(rs, c.replicaStatus(r, hash))
			c.mu.Unlock()
		}
	}
	ds := Summarize(rec, rs, c.ServiceMessage)
	c.runStatus(rec, &ds)
	if p := c.paused(rec); p != nil {
		ds.Rollout = p
	}
	return ds
}

// ServiceMessage is why the service dep/svc waits ("" when it does not).
func (c *Controller) ServiceMessage(dep, svc string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.services[dep+"/"+svc]; st != nil {
		switch {
		case st.message != "" || st.failed == "":
		case st.held:
			return "rollout paused: " + st.failed
		default:
			return "rollout failed, rolling back: " + st.failed
		}
		return st.message
	}
	return ""
}

// Summarize reports a stored deployment against replicas, those of one
// node or of a whole cluster; message gives a service's waiting reason.
// Replicas of other deployments or services are left out, and Current is
// worked out against rec.
func Summarize(rec *store.Record, replicas []ReplicaStatus, message func(dep, svc string) string) DeploymentStatus {
	ds := DeploymentStatus{Name: rec.Name, Generation: rec.Generation, UpdatedAt: rec.UpdatedAt, Ready: true, Rollout: rolledBack(rec)}
	for _, name := range rec.Spec.StartOrder() {
		s := rec.Spec.Services[name]
		hash := s.Hash()
		ss := ServiceStatus{Name: name, Desired: s.Scale.Count()}
		crash, failed := false, false
		var msg string
		for _, rs := range replicas {
			if rs.Deployment != rec.Name || rs.Service != name {
				continue
			}
			rs.Current = rs.SpecHash == hash
			ss.Replicas = append(ss.Replicas, rs)
			if rs.Current && rs.State == StateReady {
				ss.Ready++
			}
			switch rs.State {
			case StateCrashLoop:
				crash = true
				msg = rs.Message
			case StateFailed:
				failed = true
				msg = rs.Message
			}
		}
		sort.SliceStable(ss.Replicas, func(i, j int) bool { return ss.Replicas[i].Replica < ss.Replicas[j].Replica })
		if m := message(rec.Name, name); m != "" {
			msg = m
		}
		if s.RunsToCompletion() {
			summarizeRuns(s, &ss, msg)
			if ss.State != apitypes.ServiceReady {
				ds.Ready = false
			}
			ds.Services = append(ds.Services, ss)
			continue
		}
		switch {
		case failed:
			ss.State = apitypes.ServiceFailed
		case crash:
			ss.State = apitypes.ServiceCrashLoop
		case ss.Ready == ss.Desired && len(ss.Replicas) == ss.Desired:
			ss.State = apitypes.ServiceReady
		case len(ss.Replicas) == 0 && msg != "":
			ss.State = apitypes.ServiceWaiting
		default:
			ss.State = apitypes.ServiceProgressing
		}
		ss.Message = msg
		if ss.State != apitypes.ServiceReady {
			ds.Ready = false
		}
		ds.Services = append(ds.Services, ss)
	}
	return ds
}

// Replicas lists every replica the node runs, by id.
func (c *Controller) Replicas() []ReplicaStatus {
	var out []ReplicaStatus
	for _, r := range c.snapshotReplicas() {
		c.mu.Lock()
		hash := r.Hash
		if r.spec != nil {
			hash = r.spec.Hash()
		}
		out = append(out, c.replicaStatus(r, hash))
		c.mu.Unlock()
	}
	return out
}

// FindReplica picks a replica of deployment/service: the given index, or
// the first running one when index is 0.
func (c *Controller) FindReplica(dep, svc string, index int) (ReplicaStatus, error) {
	var cands []ReplicaStatus
	for _, r := range c.Replicas() {
		if r.Deployment == dep && r.Service == svc && (index == 0 || r.Replica == index) {
			cands = append(cands, r)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].Current != cands[j].Current {
			return cands[i].Current
		}
		return cands[i].Replica < cands[j].Replica
	})
	for _, r := range cands {
		if r.PID != 0 {
			return r, nil
		}
	}
	if len(cands) > 0 {
		return cands[0], nil
	}
	return ReplicaStatus{}, fmt.Errorf("no replica %d of %s/%s", index, dep, svc)
}

func (c *Controller) gauges() []metrics.Sample {
	counts := map[[3]string]int{}
	for _, r := range c.snapshotReplicas() {
		c.mu.Lock()
		counts[[3]string{r.Deployment, r.Service, string(r.State)}]++
		c.mu.Unlock()
	}
	var out []metrics.Sample
	for k, n := range counts {
		out = append(out, metrics.Sample{Name: "zlayer_replicas", Labels: map[string]string{"deployment": k[0], "service": k[1], "state": k[2]}, Value: float64(n)})
	}
	c.mu.Lock()
	out = append(out, metrics.Sample{Name: "zlayer_reconcile_passes", Value: float64(c.passes)})
	c.mu.Unlock()
	return out
}

// Metrics is the registry the controller reports to, for the parts of the
// node that run beside it (networking, ingress) to add their own.
func (c *Controller) Metrics() *metrics.Registry { return c.o.Metrics }

// summarizeRuns sums up a job or cron service from its runs' replicas
// (the newest run has the highest index), on one node or a cluster: a job
// is ready once its run on the current spec succeeded and failed once it
// failed for good; a cron service is ready while it is scheduled, its
// runs' failures said in its message. A run being retried by its restart
// policy is progress, not a crash loop.
func summarizeRuns(s *spec.Service, ss *ServiceStatus, msg string) {
	var last *ReplicaStatus
	for i := range ss.Replicas {
		r := &ss.Replicas[i]
		if (r.Current || s.Rtype == spec.RtypeCron) && (last == nil || r.Replica > last.Replica) {
			last = r
		}
	}
	ss.Desired = min(ss.Desired, 1)
	ss.State, ss.Message = apitypes.ServiceProgressing, msg
	failed := ""
	if last != nil {
		switch {
		case last.State == StateFailed:
			failed = fmt.Sprintf("run %d could not start: %s", last.Replica, last.Message)
		case last.State == StateExited && last.LastExit != nil && last.LastExit.Code != 0:
			failed = fmt.Sprintf("run %d failed: exit code %d", last.Replica, last.LastExit.Code)
			if last.Message != "" {
				failed += " (" + last.Message + ")"
			}
		}
	}
	if s.Rtype == spec.RtypeCron {
		ss.State, ss.Ready = apitypes.ServiceReady, ss.Desired
		if failed != "" && msg == "" {
			ss.Message = "last " + failed
		}
		return
	}
	switch {
	case ss.Desired == 0:
		ss.State = apitypes.ServiceReady
	case failed != "":
		ss.State = apitypes.ServiceFailed
		if msg == "" {
			ss.Message = failed
		}
	case last != nil && last.State == StateExited && last.LastExit != nil:
		ss.State, ss.Ready = apitypes.ServiceReady, 1
	case last == nil && msg != "":
		ss.State = apitypes.ServiceWaiting
	}
}
