package api

import (
	"errors"
	"net/http"

	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

// runRoutes serve the runs of job and cron services: the node that runs
// a service's schedule keeps its runs, so these answer for this node.
func (s *Server) runRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/deployments/{name}/services/{service}/runs", s.listRuns)
	mux.HandleFunc("POST /v1/deployments/{name}/services/{service}/runs", s.runNow)
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	rec, svc := s.service(w, r)
	if rec == nil {
		return
	}
	list, err := s.Controller.Runs(rec, svc)
	if !s.runErr(w, err) {
		return
	}
	writeJSON(w, 200, list)
}

func (s *Server) runNow(w http.ResponseWriter, r *http.Request) {
	unlock := s.lock(r.PathValue("name"))
	defer unlock()
	rec, svc := s.service(w, r)
	if rec == nil {
		return
	}
	run, err := s.Controller.RunNow(rec, svc)
	if !s.runErr(w, err) {
		return
	}
	s.Log.Info("run triggered", "deployment", rec.Name, "service", svc, "run", run.N, "by", s.who(r))
	writeJSON(w, 201, run)
}

// runErr answers err (false) or says there is none (true).
func (s *Server) runErr(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, reconcile.ErrNotRunnable):
		writeErr(w, 400, "not_runnable", err.Error())
	case errors.Is(err, reconcile.ErrRunActive):
		writeErr(w, 409, "run_active", err.Error())
	case errors.Is(err, reconcile.ErrNotHere):
		writeErr(w, 409, "not_here", err.Error())
	default:
		writeErr(w, 500, "internal", err.Error())
	}
	return false
}
