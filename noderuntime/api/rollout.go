package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// History is what the history, rollback and restart endpoints need of
// the desired state: the node's store and the cluster's state have it;
// desired state without it makes those endpoints answer 501.
type History interface {
	History(name string) ([]store.Generation, error)
	Rollback(name string, req store.RollbackRequest) (*store.Record, error)
	Restart(name, svc, by string) (*store.Record, error)
}

// changePutter is desired state that keeps why each generation was made.
type changePutter interface {
	PutChange(d *spec.Deployment, source string, ch store.Change) (*store.Record, error)
}

type putter interface {
	Put(d *spec.Deployment, source string) (*store.Record, error)
}

// putChange stores d in deps with the cause and who asked, where deps
// keeps them.
func (s *Server) putChange(r *http.Request, deps putter, d *spec.Deployment, source string, cause store.Cause) (*store.Record, error) {
	if p, ok := deps.(changePutter); ok {
		return p.PutChange(d, source, store.Change{Cause: cause, By: s.who(r)})
	}
	return deps.Put(d, source)
}

// who names the requester for a generation's history: the token used,
// the client certificate, or the unix socket (trusted by its file mode,
// no credential).
func (s *Server) who(r *http.Request) string {
	if ss, ok := s.cookieSession(r); ok {
		return "console:" + string(ss.Scope)
	}
	switch s.scope(r) {
	case scopeAdmin:
		return "token:admin"
	case scopeRead:
		return "token:read"
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return "cert:" + r.TLS.PeerCertificates[0].Subject.CommonName
	}
	return "socket"
}

// historyOf is where r's history lives: the desired state r is about,
// when it keeps history (see History).
func (s *Server) historyOf(w http.ResponseWriter, r *http.Request) History {
	h, ok := s.deployments(r).(History)
	if !ok {
		writeErr(w, 501, "not_implemented", "this desired state does not keep deployment history")
		return nil
	}
	return h
}

func (s *Server) rolloutRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/deployments/{name}/history", s.history)
	mux.HandleFunc("POST /v1/deployments/{name}/rollback", s.rollback)
	mux.HandleFunc("POST /v1/deployments/{name}/services/{service}/restart", s.restart)
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	h := s.historyOf(w, r)
	if h == nil {
		return
	}
	name := r.PathValue("name")
	gens, err := h.History(name)
	if !s.historyErr(w, name, err) {
		return
	}
	out := make([]apitypes.Generation, 0, len(gens))
	for i, g := range gens {
		out = append(out, apitypes.Generation{
			Generation: g.Generation, At: g.At, SpecHash: g.Hash, Cause: apitypes.GenerationCause(g.Cause), By: g.By,
			Current: i == len(gens)-1, RolledBack: wireRolledBack(g.RolledBack),
		})
	}
	writeJSON(w, 200, out)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	var req apitypes.RollbackRequest
	if !decodeJSON(w, r, s.limits().MaxJSONBytes, &req) {
		return
	}
	if req.To < 0 {
		writeErr(w, 400, "bad_request", "to must be a generation number (or 0 for the previous one)")
		return
	}
	h := s.historyOf(w, r)
	if h == nil {
		return
	}
	name := r.PathValue("name")
	unlock := s.lock(name)
	defer unlock()
	rec, err := h.Rollback(name, store.RollbackRequest{To: req.To, By: s.who(r)})
	if !s.historyErr(w, name, err) {
		return
	}
	s.Log.Info("deployment rolled back", "deployment", name, "generation", rec.Generation, "spec_of", rec.RolledBack.To)
	s.Controller.Trigger()
	writeJSON(w, 200, s.status(r, rec))
}

func (s *Server) restart(w http.ResponseWriter, r *http.Request) {
	h := s.historyOf(w, r)
	if h == nil {
		return
	}
	name, svc := r.PathValue("name"), r.PathValue("service")
	unlock := s.lock(name)
	defer unlock()
	rec, err := h.Restart(name, svc, s.who(r))
	if !s.historyErr(w, name, err) {
		return
	}
	s.Log.Info("service restarted", "deployment", name, "service", svc, "generation", rec.Generation)
	s.Controller.Trigger()
	writeJSON(w, 200, s.status(r, rec))
}

// historyErr answers err (false) or says there is none (true).
func (s *Server) historyErr(w http.ResponseWriter, name string, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrNotFound):
		writeErr(w, 404, "not_found", fmt.Sprintf("deployment %q not found", name))
	case errors.Is(err, store.ErrNoService):
		writeErr(w, 404, "not_found", err.Error())
	case errors.Is(err, store.ErrNoGeneration):
		writeErr(w, 409, "no_generation", err.Error())
	default:
		writeErr(w, 500, "internal", err.Error())
	}
	return false
}

func wireRolledBack(rb *store.RolledBack) *apitypes.RolledBackGen {
	if rb == nil {
		return nil
	}
	return &apitypes.RolledBackGen{From: rb.From, To: rb.To, Reason: rb.Reason, Auto: rb.Auto}
}

func wireRollout(r *reconcile.Rollout) *apitypes.RolloutStatus {
	if r == nil {
		return nil
	}
	return &apitypes.RolloutStatus{State: r.State, Service: r.Service, Message: r.Message, From: r.From, To: r.To, Auto: r.Auto}
}
