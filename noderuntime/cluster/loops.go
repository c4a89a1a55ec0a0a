package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"sort"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/clusterstate"
	"github.com/zlayer/zlayer/noderuntime/metrics"
	"github.com/zlayer/zlayer/noderuntime/network"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// Timings of the loops. A report is also the heartbeat of an agent, so it
// comes well within the lease.
const (
	reportEvery = 2 * time.Second
	workWait    = 30 * time.Second
	retryFirst  = 200 * time.Millisecond
	retryMax    = 5 * time.Second
)

// Placement is what the node's controller asks (reconcile.Placement).
func (rt *Runtime) Placement() reconcile.Placement { return rt.place }

// Changes moves on with every change of the cluster's state the node sees
// and with the node's own controller: what the API's long polls follow.
func (rt *Runtime) Changes() changes.Source { return &rt.feed }

// Run keeps the node in the cluster until ctx ends: its lease and reports,
// its copy of the deployments and assignments, and on servers the
// scheduler's campaign. Replicas keep running when it returns.
func (rt *Runtime) Run(ctx context.Context, ctrl *reconcile.Controller, st *store.Store) error {
	rt.mu.Lock()
	rt.ctrl, rt.st = ctrl, st
	rt.mu.Unlock()
	if rt.fresh && rt.state != nil {
		// Secrets first: the deployments that use them come in after.
		if err := rt.adoptLocalSecrets(ctx); err != nil {
			return err
		}
		if err := rt.adoptLocal(ctx, st); err != nil {
			return err
		}
	}
	rt.metrics(ctrl.Metrics())
	loops := []func(context.Context) error{rt.followController, rt.syncLoop, rt.reportLoop}
	if rt.state != nil {
		loops = append(loops, rt.registerAndKeepAlive, rt.scheduleLoop, rt.watchLoop, rt.ensureTokens, rt.shareCerts)
	}
	errc := make(chan error, len(loops))
	for _, l := range loops {
		go func() { errc <- l(ctx) }()
	}
	var first error
	for range loops {
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) && first == nil {
			first = err
		}
	}
	return first
}

// metrics adds the cluster's gauges to the node's /metrics: every node
// says what it last heard from the servers, a server also counts the
// cluster's nodes by state.
func (rt *Runtime) metrics(m *metrics.Registry) {
	m.Help("zlayer_cluster_last_sync_seconds", "Seconds since this node last read its work from the cluster.")
	m.Help("zlayer_cluster_replicas_placed", "Replica indices the cluster placed on this node.")
	m.Help("zlayer_cluster_nodes", "The cluster's nodes by state (servers only).")
	m.Gauge(func() []metrics.Sample {
		rt.mu.Lock()
		last := rt.lastSync
		rt.mu.Unlock()
		out := []metrics.Sample{{Name: "zlayer_cluster_replicas_placed", Value: float64(rt.place.here())}}
		if !last.IsZero() {
			out = append(out, metrics.Sample{Name: "zlayer_cluster_last_sync_seconds", Value: time.Since(last).Seconds()})
		}
		if rt.state == nil {
			return out
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		list, err := rt.nodeList(ctx)
		if err != nil {
			return out
		}
		by := map[apitypes.NodeState]int{apitypes.NodeReady: 0, apitypes.NodeNotReady: 0, apitypes.NodeCordoned: 0, apitypes.NodeDraining: 0}
		for _, n := range list.Nodes {
			by[n.State]++
		}
		for st, n := range by {
			out = append(out, metrics.Sample{Name: "zlayer_cluster_nodes", Labels: map[string]string{"state": string(st)}, Value: float64(n)})
		}
		return out
	})
}

// backoff sleeps before the next try of a failing loop; false when ctx
// ended.
func backoff(ctx context.Context, d *time.Duration) bool {
	if *d == 0 {
		*d = retryFirst
	} else {
		*d = min(2**d, retryMax)
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(*d):
		return true
	}
}

// followController moves the feed with the node's own changes.
func (rt *Runtime) followController(ctx context.Context) error {
	src := rt.ctrl.Changes()
	for {
		v := src.Version()
		select {
		case <-ctx.Done():
			return nil
		case <-src.After(v):
			rt.feed.Publish()
		}
	}
}

// adoptLocal moves the deployments of the node it was before into the new
// cluster's state, generations kept (a name already there is the
// cluster's).
func (rt *Runtime) adoptLocal(ctx context.Context, st *store.Store) error {
	recs, err := st.List()
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	done, err := rt.state.Import(ctx, recs)
	if err != nil {
		return fmt.Errorf("moving the node's deployments into the cluster: %w", err)
	}
	rt.log.Info("the node's deployments moved into the cluster's state", "deployments", done)
	return nil
}

func (rt *Runtime) selfInfo() apitypes.NodeInfo {
	return apitypes.NodeInfo{
		Name: rt.name, Role: string(rt.role), Address: rt.cfg.Advertise, API: apiURL(rt.cfg.Advertise, rt.cfg.APIPort),
		Labels: rt.cfg.Labels, CPUs: runtime.NumCPU(), MemoryBytes: memoryBytes(), Version: rt.cfg.Version,
		WireGuardKey: rt.wireGuardKey(), WireGuardPort: rt.wireGuardPort(),
	}
}

// wireGuardKey is the node's public key in wireguard mode, else "".
func (rt *Runtime) wireGuardKey() string {
	if rt.cfg.NetworkMode != network.ModeWireGuard {
		return ""
	}
	return rt.wgKey.PublicKey().String()
}

func (rt *Runtime) wireGuardPort() int {
	if rt.cfg.NetworkMode != network.ModeWireGuard {
		return 0
	}
	return rt.cfg.WireGuardPort
}

func nodeRecord(i apitypes.NodeInfo) clusterstate.NodeInfo {
	return clusterstate.NodeInfo{Name: i.Name, Role: i.Role, Labels: i.Labels, Address: i.Address, API: i.API,
		CPUs: i.CPUs, MemoryBytes: i.MemoryBytes, Version: i.Version, JoinedAt: time.Now().UTC(),
		WireGuardKey: i.WireGuardKey, WireGuardPort: i.WireGuardPort}
}

// registerAndKeepAlive puts the server's node record and keeps its lease,
// making a new one whenever it is lost (a partition longer than the TTL).
func (rt *Runtime) registerAndKeepAlive(ctx context.Context) error {
	var d time.Duration
	for {
		rec := nodeRecord(rt.selfInfo())
		rec.PeerURL = rt.memberConfig(nil).PeerURL()
		if rt.subnet.IsValid() {
			rec.Subnet = rt.subnet.String()
		}
		err := rt.state.PutNode(ctx, rec)
		var live *clusterstate.Liveness
		if err == nil {
			live, err = rt.state.KeepAlive(ctx, rt.name, rt.cfg.LeaseTTL)
		}
		if err != nil {
			rt.log.Warn("keeping this server's lease", "err", err)
			if !backoff(ctx, &d) {
				return nil
			}
			continue
		}
		d = 0
		rt.mu.Lock()
		rt.live = live
		rt.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-live.Lost():
			rt.log.Warn("this server's lease was lost; taking a new one")
		}
	}
}

// watchLoop publishes every change of the cluster's state to the feed.
func (rt *Runtime) watchLoop(ctx context.Context) error {
	var d time.Duration
	rev, err := rt.state.Revision(ctx)
	for {
		if err == nil {
			rt.refreshPending(ctx)
			rt.feed.Publish()
			rev, err = rt.state.WaitChange(ctx, rev)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if !backoff(ctx, &d) {
				return nil
			}
			rev, err = rt.state.Revision(ctx)
			continue
		}
		d = 0
	}
}

// ensureTokens makes the first server's join tokens once, into files a
// user reads (as k3s's server token file), besides `zlayer token create`.
func (rt *Runtime) ensureTokens(ctx context.Context) error {
	if !rt.fresh {
		return nil
	}
	for _, role := range []string{"server", "agent"} {
		path := rt.dir + "/token." + role
		if _, err := loadToken(path); err == nil {
			continue
		}
		tok, err := rt.createToken(role, 0)
		if err != nil {
			rt.log.Warn("making the first join tokens", "err", err)
			return nil
		}
		if err := writeSecret(path, tok.Token); err != nil {
			return err
		}
		rt.log.Info("join token written", "role", role, "file", path, "id", tok.ID)
	}
	return nil
}

// syncLoop keeps the node's copy of the deployments and its assignments
// current: from etcd on a server, from a server's API on an agent.
func (rt *Runtime) syncLoop(ctx context.Context) error {
	var d time.Duration
	var rev int64
	for {
		w, err := rt.fetchWork(ctx, rev)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			rt.log.Debug("fetching this node's work", "err", err)
			if !backoff(ctx, &d) {
				return nil
			}
			continue
		}
		d = 0
		rt.mu.Lock()
		rt.lastSync = time.Now()
		rt.mu.Unlock()
		if err := rt.apply(w); err != nil {
			rt.log.Warn("applying this node's work", "err", err)
		}
		rev = w.Revision
	}
}

// fetchWork waits for the cluster to move past rev, then reads what this
// node is to run.
func (rt *Runtime) fetchWork(ctx context.Context, rev int64) (*apitypes.Work, error) {
	if rt.state == nil {
		return rt.agentWork(ctx, rev)
	}
	if rev > 0 {
		wctx, cancel := context.WithTimeout(ctx, workWait)
		_, err := rt.state.WaitChange(wctx, rev)
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
	}
	return rt.work(ctx, rt.name)
}

// countRun counts r, a run of a job or cron service on another node, for
// the services that depend on it (reconcile.RunDoneKey): every run
// reported started, one that exited 0 succeeded; on its spec hash and on
// any.
func countRun(ready map[string]int, r apitypes.ReplicaStatus) {
	keys := []string{reconcile.RunDoneKey(true, r.SpecHash), reconcile.RunDoneKey(true, "")}
	if r.State == apitypes.ReplicaExited && r.LastExit != nil && r.LastExit.Code == 0 {
		keys = append(keys, reconcile.RunDoneKey(false, r.SpecHash), reconcile.RunDoneKey(false, ""))
	}
	for _, k := range keys {
		ready[readyKey(r.Deployment, r.Service, k)]++
	}
}

// work is what node is to run, read from etcd (servers only).
func (rt *Runtime) work(ctx context.Context, node string) (*apitypes.Work, error) {
	rev, err := rt.state.Revision(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := rt.state.List()
	if err != nil {
		return nil, err
	}
	asg, _, err := rt.state.Assignments(ctx)
	if err != nil {
		return nil, err
	}
	sts, err := rt.state.Statuses(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := rt.state.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	w := &apitypes.Work{Revision: rev, Assignments: []apitypes.Assignment{}, ReadyElsewhere: map[string]int{}}
	for _, rec := range recs {
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		w.Deployments = append(w.Deployments, b)
	}
	for k, a := range asg {
		w.Assignments = append(w.Assignments, apitypes.Assignment{
			ReplicaRef: apitypes.ReplicaRef{Deployment: k.Deployment, Service: k.Service, Index: k.Index}, Node: a.Node, From: a.From})
	}
	runSvcs := map[[2]string]bool{}
	for _, rec := range recs {
		for name, s := range rec.Spec.Services {
			if s.RunsToCompletion() {
				runSvcs[[2]string{rec.Name, name}] = true
			}
		}
	}
	for n, rs := range sts {
		if n == node {
			continue
		}
		for _, r := range rs {
			if runSvcs[[2]string{r.Deployment, r.Service}] {
				countRun(w.ReadyElsewhere, r)
				continue
			}
			if r.State == apitypes.ReplicaReady {
				w.ReadyElsewhere[readyKey(r.Deployment, r.Service, r.SpecHash)]++
			}
		}
	}
	for _, n := range nodes {
		if n.Role == "server" && n.API != "" {
			w.Servers = append(w.Servers, n.API)
		}
	}
	sort.Strings(w.Servers)
	alive, err := rt.state.Alive(ctx)
	if err != nil {
		return nil, err
	}
	w.Subnets = subnetsOf(nodes, alive)
	w.Replicas = replicasOf(node, sts, alive)
	if w.Certs, err = rt.state.Certs(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// apply takes work into the node's copy and tells the controller.
func (rt *Runtime) apply(w *apitypes.Work) error {
	recs := make([]*store.Record, 0, len(w.Deployments))
	for _, raw := range w.Deployments {
		rec := &store.Record{}
		if err := json.Unmarshal(raw, rec); err != nil {
			return fmt.Errorf("a deployment from the servers: %w", err)
		}
		recs = append(recs, rec)
	}
	changed, err := rt.st.Mirror(recs)
	if err != nil {
		return err
	}
	moved, err := rt.place.update(w.Assignments, w.ReadyElsewhere)
	if err != nil {
		return err
	}
	rt.notePeers(w.Subnets)
	rt.noteReplicas(w)
	rt.noteCerts(w.Certs)
	if len(w.Servers) > 0 {
		rt.mu.Lock()
		rt.servers = w.Servers
		rt.mu.Unlock()
	}
	if changed || moved {
		rt.ctrl.Trigger()
		rt.feed.Publish()
	}
	return nil
}

// reportLoop publishes the node's replicas (and on an agent renews its
// lease through a server) every reportEvery and on every change.
func (rt *Runtime) reportLoop(ctx context.Context) error {
	src := rt.ctrl.Changes()
	tick := time.NewTicker(reportEvery)
	defer tick.Stop()
	var last []byte
	var lastAt time.Time
	for {
		v := src.Version()
		rs := rt.localReplicas()
		b, _ := json.Marshal(rs)
		// An agent's report is its heartbeat: it goes out on every tick.
		if rt.state == nil || string(b) != string(last) || time.Since(lastAt) > rt.cfg.LeaseTTL/2 {
			if err := rt.report(ctx, rs); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				rt.log.Debug("reporting this node's replicas", "err", err)
			} else {
				last, lastAt = b, time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-src.After(v):
			// Let a burst of changes settle into one report.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func (rt *Runtime) localReplicas() []apitypes.ReplicaStatus {
	var out []apitypes.ReplicaStatus
	for _, r := range rt.ctrl.Replicas() {
		w := r.Wire()
		w.Node = rt.name
		out = append(out, w)
	}
	return out
}

func (rt *Runtime) report(ctx context.Context, rs []apitypes.ReplicaStatus) error {
	if rt.state == nil {
		return rt.agentReport(ctx, rs)
	}
	rt.mu.Lock()
	live := rt.live
	rt.mu.Unlock()
	if live == nil {
		return errors.New("no lease yet")
	}
	return rt.state.PutStatus(ctx, rt.name, live.Lease(), rs)
}

// serveReport is a server taking an agent's report: the agent's lease is
// renewed on its behalf (agents do not talk to etcd) and its replicas
// published under it.
func (rt *Runtime) serveReport(ctx context.Context, rep apitypes.Report) error {
	lease, err := rt.state.Renew(ctx, rep.Node.Name, rt.cfg.LeaseTTL)
	if err != nil {
		return err
	}
	if err := rt.registerIfChanged(ctx, rep.Node); err != nil {
		return err
	}
	for i := range rep.Replicas {
		rep.Replicas[i].Node = rep.Node.Name
	}
	return rt.state.PutStatus(ctx, rep.Node.Name, lease, rep.Replicas)
}

// registerIfChanged puts an agent's node record when what it says of
// itself differs from what is stored.
func (rt *Runtime) registerIfChanged(ctx context.Context, info apitypes.NodeInfo) error {
	cur, err := rt.state.Node(ctx, info.Name)
	if err == nil && cur.Role == info.Role && cur.Address == info.Address && cur.API == info.API &&
		maps.Equal(cur.Labels, info.Labels) && cur.Version == info.Version && cur.CPUs == info.CPUs && cur.Subnet != "" &&
		cur.WireGuardKey == info.WireGuardKey && cur.WireGuardPort == info.WireGuardPort {
		return nil
	}
	if err != nil && !errors.Is(err, clusterstate.ErrNodeNotFound) {
		return err
	}
	if err := rt.state.PutNode(ctx, nodeRecord(info)); err != nil {
		return err
	}
	// The subnet was claimed at the join, before the node had a record:
	// claiming it again (it is the node's already) writes it into the
	// record, where the other nodes' routes read it.
	cidr, err := netip.ParsePrefix(rt.cfg.ClusterCIDR)
	if err != nil {
		return err
	}
	_, err = rt.state.AllocateSubnet(ctx, info.Name, cidr, DefaultSubnetBits)
	return err
}
