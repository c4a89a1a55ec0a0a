package api

import (
	"context"
	"net/http"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// Deployments is where desired state is kept: the node's own store, or in
// cluster mode the cluster's state, which every server answers for.
type Deployments interface {
	Put(d *spec.Deployment, source string) (*store.Record, error)
	Get(name string) (*store.Record, error)
	List() ([]*store.Record, error)
	Delete(name string) error
}

// Cluster is what cluster mode adds to the API; nil on a single node.
type Cluster interface {
	// Deployments is the cluster's desired state.
	Deployments() Deployments
	// Replicas lists the replicas of every node, each with its node.
	Replicas(ctx context.Context) ([]reconcile.ReplicaStatus, error)
	// Message is why a service waits or has replicas with nowhere to run.
	Message(dep, svc string) string
	// Routes adds the cluster's own endpoints (join, nodes, tokens...).
	Routes(mux *http.ServeMux)
	// Public says whether a path is answered without a bearer token: the
	// join endpoints, whose token is in the body, and the nodes' own
	// endpoints, which check the node's certificate.
	Public(path string) bool
	// PeerScope is what a request authenticated only by a verified client
	// certificate of the cluster CA may do: servers everything, agents
	// read (what an agent forwards for its unix socket's users).
	PeerScope(r *http.Request) (admin, read bool)
	// Local says whether r is for this node's own replicas: a server
	// asking a node for the logs or an exec of a replica that runs there.
	Local(r *http.Request) bool
	// Wrap routes what is not this node's to answer to the node that is:
	// an agent sends every cluster-wide request to a server, a server
	// sends logs and exec of a replica to the node running it.
	Wrap(local http.Handler) http.Handler
	// Runs is a job or cron service's runs as the node that runs them
	// keeps them; nil (no error) when that is this node, or none is.
	Runs(ctx context.Context, dep, svc string) (*apitypes.RunList, error)
	// Secrets is the cluster's secret store on a server holding the
	// cluster's secrets key; nil on an agent (which forwards every secret
	// request to a server) and on a server without the key.
	Secrets() SecretStore
}

// deployments is where r reads and writes desired state.
func (s *Server) deployments(r *http.Request) Deployments {
	if s.Cluster == nil || s.Cluster.Local(r) {
		return s.Store
	}
	return s.Cluster.Deployments()
}

// replicas lists what r asks about: the node's replicas, or the cluster's.
func (s *Server) replicas(r *http.Request) []reconcile.ReplicaStatus {
	if s.Cluster == nil || s.Cluster.Local(r) {
		return s.Controller.Replicas()
	}
	rs, err := s.Cluster.Replicas(r.Context())
	if err != nil {
		s.Log.Warn("listing the cluster's replicas", "err", err)
	}
	return rs
}

// status reports rec against the replicas r is about.
func (s *Server) status(r *http.Request, rec *store.Record) apitypes.DeploymentStatus {
	return s.statuses(r, []*store.Record{rec})[0]
}

// statuses reports recs against the replicas r is about, read once for
// all of them (in a cluster, one read of every node's reports).
func (s *Server) statuses(r *http.Request, recs []*store.Record) []apitypes.DeploymentStatus {
	out := make([]apitypes.DeploymentStatus, 0, len(recs))
	if s.Cluster == nil || s.Cluster.Local(r) {
		for _, rec := range recs {
			out = append(out, wireDeployment(s.Controller.Status(rec)))
		}
		return out
	}
	msg := func(dep, svc string) string {
		if m := s.Cluster.Message(dep, svc); m != "" {
			return m
		}
		return s.Controller.ServiceMessage(dep, svc)
	}
	reps := s.replicas(r)
	for _, rec := range recs {
		ds := reconcile.Summarize(rec, reps, msg)
		s.clusterRuns(r, rec, &ds)
		out = append(out, wireDeployment(ds))
	}
	return out
}

// clusterRuns adds to ds the last run and next tick of its job and cron
// services, from the node that runs each (this one's controller when it
// is this node). A node that does not answer leaves them out.
func (s *Server) clusterRuns(r *http.Request, rec *store.Record, ds *reconcile.DeploymentStatus) {
	for i := range ds.Services {
		ss := &ds.Services[i]
		svc := rec.Spec.Services[ss.Name]
		if svc == nil || !svc.RunsToCompletion() {
			continue
		}
		list, err := s.Cluster.Runs(r.Context(), rec.Name, ss.Name)
		if err == nil && list == nil {
			var l apitypes.RunList
			if l, err = s.Controller.Runs(rec, ss.Name); err == nil {
				list = &l
			}
		}
		if err != nil {
			s.Log.Debug("runs for a status", "deployment", rec.Name, "service", ss.Name, "err", err)
			continue
		}
		ss.Runs = lastRun(svc, list)
	}
}

// lastRun is what a status says of list, the runs of svc (newest first):
// the newest that is not a skip, on the current spec for a job.
func lastRun(svc *spec.Service, list *apitypes.RunList) *apitypes.ServiceRuns {
	sr := &apitypes.ServiceRuns{Rtype: list.Rtype, Schedule: list.Schedule, Next: list.Next}
	hash := svc.Hash()
	for i := range list.Runs {
		run := list.Runs[i]
		if run.State != apitypes.RunSkipped && (svc.Rtype == spec.RtypeCron || run.SpecHash == hash) {
			sr.Last = &run
			break
		}
	}
	return sr
}

// WriteError answers an apitypes.Error as the API does.
func WriteError(w http.ResponseWriter, code int, c, msg string) { writeErr(w, code, c, msg) }

// DecodeJSON reads a JSON body of at most limit bytes, answering the
// error itself (false) as the API's own handlers do.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	return decodeJSON(w, r, limit, v)
}
