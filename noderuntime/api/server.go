// Package api serves the node's HTTP/JSON API on a unix socket (trusted by
// its file mode) and on TCP: TLS by default, plain HTTP only on an address
// asked for explicitly, a bearer token required on both (the admin token
// for everything, the read token for GETs).
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/console"
	"github.com/zlayer/zlayer/noderuntime/metrics"
	"github.com/zlayer/zlayer/noderuntime/pki"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// Server holds what the handlers need.
type Server struct {
	Store      *store.Store
	Controller *reconcile.Controller
	Metrics    *metrics.Registry
	// Token may do everything on TCP; ReadToken only reads (GET): status,
	// deployments, replicas, logs and /metrics.
	Token     string
	ReadToken string
	Log       *slog.Logger
	// Limits bound the listeners and bodies; zero fields take the
	// defaults of DefaultLimits.
	Limits Limits
	// Healthy reports whether containerd answers.
	Healthy func(context.Context) error
	// Bridge says whether bridge networking is available.
	Bridge bool
	// NetworkMode is the node's default network mode, what services
	// without network_mode get (empty: host).
	NetworkMode spec.NetworkMode
	// Changes is what long polls and waits follow; nil: the controller's.
	Changes changes.Source
	// Cluster is set in cluster mode (see Cluster).
	Cluster Cluster
	// Secrets is the node's secret store; nil: the node keeps none. A
	// cluster node uses the cluster's instead (Cluster.Secrets).
	Secrets SecretStore

	locks sync.Map // deployment name -> *sync.Mutex

	consoleOnce sync.Once
	con         *console.Console // the web console's sessions, shared by every listener
}

// console is the web console, made at first use so that every listener
// of the server shares its session table.
func (s *Server) console() *console.Console {
	s.consoleOnce.Do(func() {
		s.con = console.New(func(token string) console.Scope {
			switch s.tokenScope(token) {
			case scopeAdmin:
				return console.ScopeAdmin
			case scopeRead:
				return console.ScopeRead
			}
			return console.ScopeNone
		})
	})
	return s.con
}

func (s *Server) lock(name string) func() {
	m, _ := s.locks.LoadOrStore(name, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (s *Server) networkMode() spec.NetworkMode {
	if s.NetworkMode == "" {
		return spec.NetworkHost
	}
	return s.NetworkMode
}

// LoadOrCreateToken returns the token in path, generating one (0600) at
// first start. An existing file that group or others may read is refused
// (a *pki.LooseModeError naming the file and the fix): the token in it can
// no longer be trusted to be secret.
func LoadOrCreateToken(path string) (string, error) {
	b, err := pki.ReadPrivate(path)
	if err == nil {
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("token file %s is empty", path)
		}
		return t, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	t := hex.EncodeToString(buf)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return t, pki.WriteFile(path, []byte(t+"\n"), 0o600)
}

// Handler returns the API; requireToken is set for the TCP listener.
func (s *Server) Handler(requireToken bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, apitypes.Health{Status: "ok"})
	})
	mux.HandleFunc("GET /health/ready", s.ready)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		s.Metrics.Write(w)
	})
	mux.HandleFunc("POST /v1/deployments", s.apply)
	mux.HandleFunc("GET /v1/deployments", s.list)
	mux.HandleFunc("GET /v1/deployments/{name}", s.get)
	mux.HandleFunc("DELETE /v1/deployments/{name}", s.delete)
	mux.HandleFunc("GET /v1/deployments/{name}/spec", s.source)
	mux.HandleFunc("POST /v1/deployments/{name}/services/{service}/scale", s.scale)
	mux.HandleFunc("GET /v1/deployments/{name}/services/{service}/logs", s.logs)
	mux.HandleFunc("POST /v1/deployments/{name}/services/{service}/exec", s.exec)
	s.runRoutes(mux)
	mux.HandleFunc("GET /v1/replicas", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, wireReplicas(s.replicas(r)))
	})
	mux.HandleFunc("POST /v1/images/import", s.importImage)
	mux.HandleFunc("GET /v1/events", s.events)
	s.console().Routes(mux)
	s.secretRoutes(mux)
	s.imageRoutes(mux)
	s.rolloutRoutes(mux)
	if s.Cluster != nil {
		s.Cluster.Routes(mux)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, 404, "not_found", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})
	var h http.Handler = mux
	if s.Cluster != nil {
		h = s.Cluster.Wrap(mux)
	}
	h = s.countRequests(h)
	if !requireToken {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/health/") || console.Public(r.URL.Path) || (s.Cluster != nil && s.Cluster.Public(r.URL.Path)) {
			h.ServeHTTP(w, r)
			return
		}
		write := r.Method != http.MethodGet && r.Method != http.MethodHead
		if ss, ok := s.cookieSession(r); ok && write {
			if err := console.CheckWrite(r, ss); err != nil {
				writeErr(w, 403, "forbidden", err.Error())
				return
			}
			// Checked here, before anything forwards it: an agent sends
			// the change on with the session's token (Cluster.Wrap).
			r = r.WithContext(console.WithToken(r.Context(), ss.Token()))
		}
		switch s.scope(r) {
		case scopeAdmin:
		case scopeRead:
			if write {
				writeErr(w, 403, "forbidden", "the read-only token may only read (GET); "+r.Method+" needs the admin token")
				return
			}
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="zlayer"`)
			writeErr(w, 401, "unauthorized", "a valid bearer token is required on the TCP API (see the token file in the node's data dir)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

type scope int

const (
	scopeNone scope = iota
	scopeRead
	scopeAdmin
)

// scope is what the request's bearer token may do, or without one its
// console session (a browser's cookie) or its cluster certificate.
func (s *Server) scope(r *http.Request) scope {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		if ss, ok := s.cookieSession(r); ok {
			if ss.Scope == console.ScopeAdmin {
				return scopeAdmin
			}
			return scopeRead
		}
		return s.peerScope(r)
	}
	return s.tokenScope(got)
}

// cookieSession is the console session of a request without a bearer
// token: a bearer token always wins over a cookie the browser adds.
func (s *Server) cookieSession(r *http.Request) (console.Session, bool) {
	if r.Header.Get("Authorization") != "" {
		return console.Session{}, false
	}
	return s.console().Session(r)
}

// tokenScope is what a token may do. Both tokens are compared in constant
// time, whichever matches.
func (s *Server) tokenScope(got string) scope {
	got = strings.TrimSpace(got)
	admin := s.Token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) == 1
	read := s.ReadToken != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.ReadToken)) == 1
	switch {
	case admin:
		return scopeAdmin
	case read:
		return scopeRead
	}
	return scopeNone
}

// peerScope is what a request without a bearer token may do on the
// strength of a verified cluster certificate alone.
func (s *Server) peerScope(r *http.Request) scope {
	if s.Cluster == nil || r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return scopeNone
	}
	switch admin, read := s.Cluster.PeerScope(r); {
	case admin:
		return scopeAdmin
	case read:
		return scopeRead
	}
	return scopeNone
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	apitypes.WriteJSON(w, code, v)
}

func writeErr(w http.ResponseWriter, code int, c, msg string) {
	writeJSON(w, code, apitypes.Error{Code: c, Message: msg})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.Controller.Ready():
	default:
		writeErr(w, 503, "not_ready", "adopting containers")
		return
	}
	if s.Healthy != nil {
		if err := s.Healthy(r.Context()); err != nil {
			writeErr(w, 503, "not_ready", "containerd: "+err.Error())
			return
		}
	}
	writeJSON(w, 200, apitypes.Health{Status: "ready"})
}

// readBody reads the whole body, up to limit bytes. A longer body is
// answered 413 and nothing is applied: a body cut at the limit could be a
// valid spec that says less than what was sent.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeTooLarge(w, limit)
			return nil, false
		}
		writeErr(w, 400, "bad_request", "reading the body: "+err.Error())
		return nil, false
	}
	bodyRead(w)
	return b, true
}

func writeTooLarge(w http.ResponseWriter, limit int64) {
	writeErr(w, 413, "too_large", fmt.Sprintf("the body is larger than the limit of %d bytes; nothing was changed", limit))
}

// decodeJSON reads a JSON body of at most limit bytes holding one value
// and nothing after it.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	b, ok := readBody(w, r, limit)
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON value")
	}
	if err != nil {
		writeErr(w, 400, "bad_request", "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	var req apitypes.ApplyRequest
	lim := s.limits()
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		// JSON escaping may double the spec's size, plus the envelope.
		if !decodeJSON(w, r, 2*lim.MaxSpecBytes+4096, &req) {
			return
		}
		if int64(len(req.Spec)) > lim.MaxSpecBytes {
			writeErr(w, 413, "too_large", fmt.Sprintf("the spec is larger than the limit of %d bytes; nothing was changed", lim.MaxSpecBytes))
			return
		}
	} else {
		b, ok := readBody(w, r, lim.MaxSpecBytes)
		if !ok {
			return
		}
		req.Spec, req.File = string(b), r.URL.Query().Get("file")
	}
	if strings.TrimSpace(req.Spec) == "" {
		writeErr(w, 400, "bad_request", "empty spec")
		return
	}
	d, err := spec.ParseWith(req.File, []byte(req.Spec), spec.ParseOptions{DefaultNetworkMode: s.networkMode(), SecretExists: s.secretParseOption(), LookupEnv: spec.NodeEnv})
	if err != nil {
		var es spec.Errors
		if errors.As(err, &es) {
			writeJSON(w, 422, apitypes.Error{Code: "invalid_spec", Message: err.Error(), Errors: wireSpecErrors(es)})
			return
		}
		writeErr(w, 422, "invalid_spec", err.Error())
		return
	}
	if err := d.CheckSupported(s.Bridge); err != nil {
		writeErr(w, 422, "unsupported", err.Error())
		return
	}
	if q := r.URL.Query().Get("dry_run"); q == "1" || q == "true" {
		// Checked as an apply would check it; nothing is stored.
		writeJSON(w, 200, apitypes.Validated{Valid: true, Deployment: d.Deployment})
		return
	}
	unlock := s.lock(d.Deployment)
	defer unlock()
	// Under the lock: a secret's new value rolls deployments under it too.
	if !s.setSecretVersions(w, d) {
		return
	}
	// A first generation is a new deployment (deleting one ends its
	// generations): no read before the write is needed to tell.
	rec, err := s.putChange(r, s.deployments(r), d, req.Spec, store.CauseDeploy)
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	s.Log.Info("deployment applied", "deployment", d.Deployment, "generation", rec.Generation)
	s.Controller.Trigger()
	code := 200
	if rec.Generation == 1 {
		code = 201
	}
	writeJSON(w, code, s.status(r, rec))
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	recs, err := s.deployments(r).List()
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	writeJSON(w, 200, s.statuses(r, recs))
}

func (s *Server) record(w http.ResponseWriter, r *http.Request, name string) *store.Record {
	rec, err := s.deployments(r).Get(name)
	if errors.Is(err, store.ErrNotFound) {
		writeErr(w, 404, "not_found", fmt.Sprintf("deployment %q not found", name))
		return nil
	}
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return nil
	}
	return rec
}

// get answers a deployment's status with the change version it reflects;
// with ?wait= it first waits (long poll) for a change past ?since=.
func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	since, wait, ok := s.watchParams(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if wait > 0 {
		// An unknown name is answered at once, not after the wait.
		if rec := s.record(w, r, name); rec == nil {
			return
		}
		s.awaitChange(w, r, since, wait)
		if r.Context().Err() != nil {
			return
		}
	}
	// The version is read before the state it goes out with, so a change
	// in between is one the client's next wait returns for at once.
	v := s.changes().Version()
	if rec := s.record(w, r, name); rec != nil {
		setVersion(w, v)
		writeJSON(w, 200, s.status(r, rec))
	}
}

// source answers the spec text the deployment was last applied with, for
// editing it (the console's editor); a scale changes the stored spec, not
// this text.
func (s *Server) source(w http.ResponseWriter, r *http.Request) {
	rec := s.record(w, r, r.PathValue("name"))
	if rec == nil {
		return
	}
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	_, _ = io.WriteString(w, rec.Source)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	unlock := s.lock(name)
	defer unlock()
	if rec := s.record(w, r, name); rec == nil {
		return
	}
	if err := s.deployments(r).Delete(name); err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	s.Controller.Trigger()
	// Answer once the replicas are gone, so `zlayer down` returns to a
	// clean node.
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	s.waitUntil(ctx, func() bool {
		for _, rs := range s.replicas(r) {
			if rs.Deployment == name {
				return false
			}
		}
		return true
	})
	s.extendWrite(w)
	writeJSON(w, 200, apitypes.Deleted{Deleted: name})
}

func (s *Server) service(w http.ResponseWriter, r *http.Request) (*store.Record, string) {
	rec := s.record(w, r, r.PathValue("name"))
	if rec == nil {
		return nil, ""
	}
	svc := r.PathValue("service")
	if rec.Spec.Services[svc] == nil {
		writeErr(w, 404, "not_found", fmt.Sprintf("deployment %q has no service %q", rec.Name, svc))
		return nil, ""
	}
	return rec, svc
}

func (s *Server) scale(w http.ResponseWriter, r *http.Request) {
	var req apitypes.ScaleRequest
	if !decodeJSON(w, r, s.limits().MaxJSONBytes, &req) {
		return
	}
	if req.Replicas == nil || *req.Replicas < 0 || *req.Replicas > 1000 {
		writeErr(w, 400, "bad_request", "replicas must be a number from 0 to 1000")
		return
	}
	unlock := s.lock(r.PathValue("name"))
	defer unlock()
	rec, svc := s.service(w, r)
	if rec == nil {
		return
	}
	n := *req.Replicas
	if sv := rec.Spec.Services[svc]; sv.RunsToCompletion() && n > 1 {
		writeErr(w, 400, "bad_request", fmt.Sprintf("%s is rtype %s: it runs one replica per run (scale it to 1, or 0 for no runs)", svc, sv.Kind()))
		return
	}
	rec.Spec.Services[svc].Scale.Replicas = &n
	rec, err := s.putChange(r, s.deployments(r), rec.Spec, rec.Source, store.CauseScale)
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	s.Controller.Trigger()
	writeJSON(w, 200, s.status(r, rec))
}

func (s *Server) replicasOf(dep, svc string, only int) []reconcile.ReplicaStatus {
	var out []reconcile.ReplicaStatus
	for _, r := range s.Controller.Replicas() {
		if r.Deployment == dep && r.Service == svc && (only == 0 || r.Replica == only) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Replica < out[j].Replica })
	return out
}

type frameWriter struct {
	mu     *sync.Mutex
	enc    *json.Encoder
	fl     http.Flusher
	stream string
	extend func() // a write deadline for this frame: a command may be quiet for long
}

func (f frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.extend()
	if err := f.enc.Encode(apitypes.ExecFrame{Stream: f.stream, Data: string(p)}); err != nil {
		return 0, err
	}
	if f.fl != nil {
		f.fl.Flush()
	}
	return len(p), nil
}

func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	var req apitypes.ExecRequest
	var stdin io.Reader
	interactive := isExecUpgrade(r)
	if h := r.Header.Get(apitypes.ExecHeader); h != "" {
		if err := json.Unmarshal([]byte(h), &req); err != nil {
			writeErr(w, 400, "bad_request", "invalid "+apitypes.ExecHeader+" header: "+err.Error())
			return
		}
		if !interactive {
			// Stdin streams in while output streams out.
			if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
				writeErr(w, 500, "internal", err.Error())
				return
			}
			stdin = s.idleReader(w, r.Body)
		}
	} else if interactive {
		writeErr(w, 400, "bad_request", "an interactive exec gives its request in the "+apitypes.ExecHeader+" header")
		return
	} else if !decodeJSON(w, r, s.limits().MaxJSONBytes, &req) {
		return
	}
	if len(req.Command) == 0 {
		writeErr(w, 400, "bad_request", "command is required")
		return
	}
	if req.TTY && !interactive {
		writeErr(w, 400, "bad_request", "tty needs the interactive exec (Connection: Upgrade, Upgrade: "+apitypes.ExecUpgrade+")")
		return
	}
	rec, svc := s.service(w, r)
	if rec == nil {
		return
	}
	rs, err := s.Controller.FindReplica(rec.Name, svc, req.Replica)
	if err != nil {
		writeErr(w, 404, "not_found", err.Error())
		return
	}
	if rs.PID == 0 {
		writeErr(w, 409, "not_running", fmt.Sprintf("replica %d of %s/%s is %s", rs.Replica, rec.Name, svc, rs.State))
		return
	}
	if interactive {
		s.execInteractive(w, r, rs.ID, req)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	mu := &sync.Mutex{}
	enc := json.NewEncoder(w)
	fl, _ := w.(http.Flusher)
	extend := func() { s.extendWrite(w) }
	code, err := s.Controller.Exec(r.Context(), rs.ID, req.Command, stdin,
		frameWriter{mu, enc, fl, apitypes.StreamStdout, extend}, frameWriter{mu, enc, fl, apitypes.StreamStderr, extend})
	mu.Lock()
	defer mu.Unlock()
	extend()
	f := apitypes.ExecFrame{ExitCode: &code}
	if err != nil {
		f.Error = err.Error()
	}
	_ = enc.Encode(f)
}

func (s *Server) importImage(w http.ResponseWriter, r *http.Request) {
	lim := s.limits()
	// A declared length over the limit is refused before a byte is read;
	// a chunked body is cut at the limit and the import, which then sees a
	// broken archive, fails as a whole.
	if r.ContentLength > lim.MaxImportBytes {
		writeTooLarge(w, lim.MaxImportBytes)
		return
	}
	body := http.MaxBytesReader(w, s.idleReader(w, r.Body), lim.MaxImportBytes)
	imgs, err := s.Controller.Import(r.Context(), body, r.URL.Query().Get("name"))
	s.extendWrite(w)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeTooLarge(w, lim.MaxImportBytes)
			return
		}
		writeErr(w, 400, "import_failed", err.Error())
		return
	}
	writeJSON(w, 200, wireImages(imgs))
}
