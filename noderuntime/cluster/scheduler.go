package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/clusterstate"
	"github.com/zlayer/zlayer/noderuntime/schedule"
)

// pendingKey holds the scheduler's reasons for replicas with nowhere to
// run, by "deployment/service", for status on any server.
const pendingKey = "/zlayer/v1/pending"

// scheduleLoop campaigns for the scheduler's seat (etcd's election) and,
// while it holds it, places replicas on every change of the state.
func (rt *Runtime) scheduleLoop(ctx context.Context) error {
	var d time.Duration
	for ctx.Err() == nil {
		lead, err := rt.state.Campaign(ctx, rt.name)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			rt.log.Warn("campaigning for the scheduler", "err", err)
			if !backoff(ctx, &d) {
				return nil
			}
			continue
		}
		d = 0
		rt.log.Info("this server schedules the cluster's replicas")
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lead.Done():
			case <-lctx.Done():
			}
			cancel()
		}()
		rt.lead(lctx, lead)
		cancel()
		if ctx.Err() != nil {
			rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = lead.Resign(rctx)
			rcancel()
			return nil
		}
		rt.log.Warn("this server no longer schedules (its election session ended)")
	}
	return nil
}

// lead places replicas until ctx ends (the leadership was lost).
func (rt *Runtime) lead(ctx context.Context, lead *clusterstate.Leadership) {
	var rev int64
	var d time.Duration
	for ctx.Err() == nil {
		next, err := rt.state.Revision(ctx)
		if err == nil {
			err = rt.scheduleOnce(ctx, lead)
		}
		if err != nil {
			if errors.Is(err, clusterstate.ErrNotLeader) || ctx.Err() != nil {
				return
			}
			rt.log.Warn("scheduling", "err", err)
			if !backoff(ctx, &d) {
				return
			}
			continue
		}
		d = 0
		rev = next
		// A lease running out is no write: it is seen by waking up at
		// least once a lease period.
		wctx, cancel := context.WithTimeout(ctx, rt.cfg.LeaseTTL/2)
		_, _ = rt.state.WaitChange(wctx, rev)
		cancel()
	}
}

// scheduleOnce computes the placement of every replica from the state
// and writes what changed, guarded by the leadership.
func (rt *Runtime) scheduleOnce(ctx context.Context, lead *clusterstate.Leadership) error {
	in, err := rt.scheduleInput(ctx)
	if err != nil {
		return err
	}
	plan := schedule.Compute(in)
	set := make(map[clusterstate.ReplicaKey]clusterstate.Assignment, len(plan.Set))
	for k, a := range plan.Set {
		set[stateKey(k)] = clusterstate.Assignment{Node: a.Node, From: a.From}
	}
	del := make([]clusterstate.ReplicaKey, 0, len(plan.Delete))
	for _, k := range plan.Delete {
		del = append(del, stateKey(k))
	}
	if len(set) > 0 || len(del) > 0 {
		if err := rt.state.WriteAssignments(ctx, lead.Guard(), set, del); err != nil {
			return err
		}
		rt.log.Debug("replicas placed", "set", len(set), "deleted", len(del))
	}
	return rt.writePending(ctx, plan.Pending)
}

func stateKey(k schedule.Key) clusterstate.ReplicaKey {
	return clusterstate.ReplicaKey{Deployment: k.Deployment, Service: k.Service, Index: k.Index}
}

// scheduleInput reads what placement depends on.
func (rt *Runtime) scheduleInput(ctx context.Context) (schedule.Input, error) {
	var in schedule.Input
	nodes, err := rt.state.Nodes(ctx)
	if err != nil {
		return in, err
	}
	alive, err := rt.state.Alive(ctx)
	if err != nil {
		return in, err
	}
	recs, err := rt.state.List()
	if err != nil {
		return in, err
	}
	cur, _, err := rt.state.Assignments(ctx)
	if err != nil {
		return in, err
	}
	sts, err := rt.state.Statuses(ctx)
	if err != nil {
		return in, err
	}
	for _, n := range nodes {
		in.Nodes = append(in.Nodes, schedule.Node{Name: n.Name, Ready: alive[n.Name], Cordoned: n.Cordoned, Draining: n.Draining, Labels: n.Labels})
	}
	hashes := map[[2]string]string{}
	for _, rec := range recs {
		for _, name := range rec.Spec.StartOrder() {
			s := rec.Spec.Services[name]
			hashes[[2]string{rec.Name, name}] = s.Hash()
			in.Services = append(in.Services, schedule.Service{Deployment: rec.Name, Service: name, Count: s.Scale.Count(), Selector: s.NodeSelector})
		}
	}
	in.Current = make(map[schedule.Key]schedule.Assignment, len(cur))
	for k, a := range cur {
		in.Current[schedule.Key{Deployment: k.Deployment, Service: k.Service, Index: k.Index}] = schedule.Assignment{Node: a.Node, From: a.From}
	}
	in.Ready = map[schedule.Key]map[string]bool{}
	for node, rs := range sts {
		for _, r := range rs {
			if r.State != apitypes.ReplicaReady || r.SpecHash != hashes[[2]string{r.Deployment, r.Service}] {
				continue
			}
			k := schedule.Key{Deployment: r.Deployment, Service: r.Service, Index: r.Replica}
			if in.Ready[k] == nil {
				in.Ready[k] = map[string]bool{}
			}
			in.Ready[k][node] = true
		}
	}
	return in, nil
}

// writePending keeps the reasons of unplaced replicas, one line per
// service, where status on any server finds them.
func (rt *Runtime) writePending(ctx context.Context, ps []schedule.Pending) error {
	by := map[string][]string{}
	for _, p := range ps {
		k := p.Key.Deployment + "/" + p.Key.Service
		by[k] = append(by[k], fmt.Sprintf("replica %d: %s", p.Key.Index, p.Reason))
	}
	msgs := map[string]string{}
	for k, l := range by {
		sort.Strings(l)
		msgs[k] = "not placed: " + strings.Join(l, "; ")
	}
	rt.mu.Lock()
	same := maps.Equal(msgs, rt.pending)
	rt.mu.Unlock()
	if same {
		return nil
	}
	b, err := json.Marshal(msgs)
	if err != nil {
		return err
	}
	if _, err := rt.etcd.Put(ctx, pendingKey, string(b)); err != nil {
		return err
	}
	rt.mu.Lock()
	rt.pending = msgs
	rt.mu.Unlock()
	return nil
}

// refreshPending reads the scheduler's reasons (another server may be the
// scheduler).
func (rt *Runtime) refreshPending(ctx context.Context) {
	resp, err := rt.etcd.Get(ctx, pendingKey)
	if err != nil || len(resp.Kvs) == 0 {
		return
	}
	msgs := map[string]string{}
	if json.Unmarshal(resp.Kvs[0].Value, &msgs) == nil {
		rt.mu.Lock()
		rt.pending = msgs
		rt.mu.Unlock()
	}
}

// Message is api.Cluster's: why a service's replicas have nowhere to run.
func (rt *Runtime) Message(dep, svc string) string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.pending[dep+"/"+svc]
}
