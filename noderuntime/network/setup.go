package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/zlayer/zlayer/noderuntime/ingress"
	"github.com/zlayer/zlayer/noderuntime/metrics"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// Setup builds the node's networking from the node config's network and
// ingress sections: the bridge
// (left out, with the reason logged, when the config disables it or the CNI
// plugins are missing, so the node still runs host-network replicas), the
// ingress, and the default mode for specs that do not say.
func Setup(dataDir string, nw NetworkSection, ing IngressSection, log *slog.Logger) (*Node, error) {
	return SetupCluster(dataDir, nw, ing, nil, log)
}

// SetupCluster is Setup for a node of a cluster (cn nil: a single node):
// the bridge takes the node's cluster subnet (a subnet in the config must
// be the same, or the node refuses to start), and host-gw routes lead to
// the other nodes' subnets while the node runs.
func SetupCluster(dataDir string, nw NetworkSection, ing IngressSection, cn *ClusterNet, log *slog.Logger) (*Node, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{Log: log, DefaultMode: ModeHost}
	if nw.Disabled {
		log.Info("bridge networking disabled by the node config; replicas share the node's network")
	} else {
		bc := nw.Config
		bc.DataDir = dataDir
		asked := bc.Subnet != ""
		if cn != nil {
			if err := cn.check(&bc); err != nil {
				return nil, err
			}
		}
		br, err := NewBridge(bc)
		if err != nil {
			// A config that asks for something specific must work; the
			// defaults may simply not apply to this machine.
			if asked || bc.Bridge != "" || len(bc.PluginDirs) > 0 || nw.DefaultMode == ModeBridge {
				return nil, err
			}
			log.Warn("bridge networking unavailable; replicas share the node's network", "reason", err)
		} else {
			n.Bridge = br
			n.DefaultMode = ModeBridge
			if nw.DefaultMode == ModeHost {
				n.DefaultMode = ModeHost
			}
			log.Info("bridge networking", "bridge", br.cfg.Bridge, "subnet", br.cfg.Subnet, "gateway", br.Gateway().String(), "default_mode", n.DefaultMode)
			if !nw.DNS.Disabled {
				if err := n.startDNS(nw.DNS, log.With("component", "dns")); err != nil {
					return nil, err
				}
			}
			if cn != nil {
				if n.routes, err = cn.routesFor(log); err != nil {
					return nil, err
				}
				n.cluster = cn
				log.Info("cluster network: "+cn.modeName()+" routes to the other nodes", "cluster_cidr", cn.CIDR.String())
			}
		}
	}
	n.cluster = cn
	if !ing.Disabled {
		o := ing.Options()
		o.DataDir, o.Log = dataDir, log.With("component", "ingress")
		g, err := ingress.New(o)
		if err != nil {
			return nil, fmt.Errorf("ingress: %w", err)
		}
		n.Ingress = g
	}
	return n, nil
}

// Networks is the reconciler's table of network modes on this node.
func (n *Node) Networks() reconcile.Networks {
	nets := reconcile.Networks{ModeHost: reconcile.HostNetwork{}}
	if n.Bridge != nil {
		nets[ModeBridge] = n.Bridge
	}
	return nets
}

// Close stops the DNS server and the ingress, letting in-flight requests
// finish until ctx ends. Replicas' networks stay: they outlive the node
// process.
func (n *Node) Close(ctx context.Context) error {
	var errs []error
	if n.DNS != nil {
		errs = append(errs, n.DNS.Close())
	}
	if n.Ingress != nil {
		errs = append(errs, n.Ingress.Close(ctx))
	}
	return errors.Join(errs...)
}

// ViewsFrom joins the stored deployments with the replicas the reconciler
// reports and, in a cluster, the other nodes' replicas (remote, Node set):
// a deployment's view holds all of them, its own first.
func ViewsFrom(recs []*store.Record, replicas []reconcile.ReplicaStatus, remote []ingress.Replica) []View {
	views := make([]View, 0, len(recs))
	byDep := map[string][]ingress.Replica{}
	for _, r := range replicas {
		byDep[r.Deployment] = append(byDep[r.Deployment], ingress.Replica{
			ID: r.ID, Deployment: r.Deployment, Service: r.Service, Index: r.Replica,
			Addr: r.Address, Ready: r.State == reconcile.StateReady,
		})
	}
	for _, r := range remote {
		byDep[r.Deployment] = append(byDep[r.Deployment], r)
	}
	for _, rec := range recs {
		views = append(views, View{Spec: rec.Spec, Replicas: byDep[rec.Name]})
	}
	return views
}

// Extension runs the node's networking beside the reconciler (the node's
// Extensions hook): once the reconciler has adopted what it found, it
// releases the networks of replicas that vanished while the node was away,
// then keeps the ingress routes and the discovery files in step with
// replica readiness (on every change the reconciler publishes) until ctx
// ends, and closes the ingress.
func (n *Node) Extension(ctx context.Context, ctrl *reconcile.Controller, st *store.Store) error {
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = n.Close(cctx)
	}()
	select {
	case <-ctx.Done():
		return nil
	case <-ctrl.Ready():
	}
	if g := n.Ingress; g != nil {
		m := ctrl.Metrics()
		m.Help("zlayer_ingress_refused_connections_total", "Connections the ingress closed at accept: over a connection cap.")
		m.Help("zlayer_ingress_dropped_udp_sessions_total", "UDP sessions not opened: over a session cap.")
		m.Help("zlayer_ingress_open_connections", "Open http, https and tcp connections.")
		m.Help("zlayer_ingress_open_udp_sessions", "Open udp sessions.")
		m.Gauge(func() []metrics.Sample {
			st := g.Stats()
			return []metrics.Sample{
				{Name: "zlayer_ingress_refused_connections_total", Value: float64(st.RefusedConns)},
				{Name: "zlayer_ingress_dropped_udp_sessions_total", Value: float64(st.DroppedUDPSessions)},
				{Name: "zlayer_ingress_open_connections", Value: float64(st.Conns)},
				{Name: "zlayer_ingress_open_udp_sessions", Value: float64(st.UDPSessions)},
			}
		})
		m.Help("zlayer_ingress_requests_total", "HTTP requests through the ingress by endpoint and outcome: the replica's status class (1xx-5xx), or error when no replica answered whole (the ingress's 502/503, a response cut short).")
		m.CounterFunc(func() []metrics.Sample { return requestSamples(g.Requests()) })
	}
	if n.DNS != nil {
		dnsMetrics(ctrl.Metrics(), n.DNS)
	}
	if n.Bridge != nil {
		live := map[string]bool{}
		for _, r := range ctrl.Replicas() {
			live[r.ID] = true
		}
		if err := n.Bridge.Prune(ctx, func(id string) bool { return live[id] }); err != nil {
			n.Log.Warn("release networks of vanished replicas", "err", err)
		}
	}
	if n.routes != nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			runRoutes(ctx, n.routes, n.cluster, n.Log)
		}()
		// The routes are removed before the node's process ends.
		defer func() { <-done }()
	}
	var last []View
	var certs []ingress.CertPEM
	n.Run(ctx, n.cluster.changes(ctx, ctrl.Changes()), DefaultResync, func() []View {
		certs = n.cluster.syncCerts(n.Ingress, certs, n.Log)
		recs, err := st.List()
		if err != nil {
			return last // keep routing on the last known state
		}
		last = ViewsFrom(recs, ctrl.Replicas(), n.cluster.remote())
		return last
	})
	return nil
}

// requestSamples are the ingress's request counts as metric samples.
func requestSamples(rs []ingress.RouteRequests) []metrics.Sample {
	out := make([]metrics.Sample, len(rs))
	for i, r := range rs {
		out[i] = metrics.Sample{Name: "zlayer_ingress_requests_total", Value: float64(r.Count), Labels: map[string]string{
			"deployment": r.Deployment, "service": r.Service, "endpoint": r.Endpoint, "code": r.Class}}
	}
	return out
}

// BeforeStop drains a replica from the ingress before the reconciler stops
// it, bounded by timeout.
func (n *Node) BeforeStop(timeout time.Duration) func(ctx context.Context, id string) {
	return func(ctx context.Context, id string) { n.Drain(ctx, id, timeout) }
}
