package network

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/zlayer/zlayer/noderuntime/ingress"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// Setup builds the node's networking from the node config file: the bridge
// (left out, with the reason logged, when the config disables it or the CNI
// plugins are missing, so the node still runs host-network replicas), the
// ingress, and the default mode for specs that do not say.
func Setup(dataDir, configFile string, log *slog.Logger) (*Node, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := LoadNodeConfig(configFile)
	if err != nil {
		return nil, err
	}
	n := &Node{Log: log, DefaultMode: ModeHost}
	if cfg.Network.Disabled {
		log.Info("bridge networking disabled by the node config; replicas share the node's network")
	} else {
		bc := cfg.Network.Config
		bc.DataDir = dataDir
		br, err := NewBridge(bc)
		if err != nil {
			// A config that asks for something specific must work; the
			// defaults may simply not apply to this machine.
			if bc.Subnet != "" || bc.Bridge != "" || len(bc.PluginDirs) > 0 || cfg.Network.DefaultMode == ModeBridge {
				return nil, err
			}
			log.Warn("bridge networking unavailable; replicas share the node's network", "reason", err)
		} else {
			n.Bridge = br
			n.DefaultMode = ModeBridge
			if cfg.Network.DefaultMode == ModeHost {
				n.DefaultMode = ModeHost
			}
			log.Info("bridge networking", "bridge", br.cfg.Bridge, "subnet", br.cfg.Subnet, "gateway", br.Gateway().String(), "default_mode", n.DefaultMode)
		}
	}
	if !cfg.Ingress.Disabled {
		g, err := ingress.New(ingress.Options{ListenHost: cfg.Ingress.Listen, DataDir: dataDir, Certs: cfg.Ingress.Certs, Log: log.With("component", "ingress")})
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

// Close stops the ingress, letting in-flight requests finish until ctx ends.
// Replicas' networks stay: they outlive the node process.
func (n *Node) Close(ctx context.Context) error {
	if n.Ingress != nil {
		return n.Ingress.Close(ctx)
	}
	return nil
}

// ViewsFrom joins the stored deployments with the replicas the reconciler
// reports.
func ViewsFrom(recs []*store.Record, replicas []reconcile.ReplicaStatus) []View {
	views := make([]View, 0, len(recs))
	byDep := map[string][]ingress.Replica{}
	for _, r := range replicas {
		byDep[r.Deployment] = append(byDep[r.Deployment], ingress.Replica{
			ID: r.ID, Deployment: r.Deployment, Service: r.Service, Index: r.Replica,
			Addr: r.Address, Ready: r.State == reconcile.StateReady,
		})
	}
	for _, rec := range recs {
		views = append(views, View{Spec: rec.Spec, Replicas: byDep[rec.Name]})
	}
	return views
}
