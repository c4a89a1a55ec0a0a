package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zlayer/zlayer/noderuntime/api"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/clusterjoin"
	"github.com/zlayer/zlayer/noderuntime/console"
	"github.com/zlayer/zlayer/noderuntime/jointoken"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

// Bounds of what nodes send each other.
const (
	maxReportBytes = 8 << 20
	maxExecPeek    = 1 << 20
	maxWorkWait    = time.Minute
)

// peerClient is how a node calls another's API: its node certificate as
// the client's, the cluster CA as the only root.
type peerClient struct {
	tr  *http.Transport
	cli *http.Client
}

func newPeerClient(cert tls.Certificate, pool *x509.CertPool) *peerClient {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{cert},
			NextProtos: []string{"http/1.1"},
		},
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 0, // long polls: bounded by each request's context
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     false,
	}
	return &peerClient{tr: tr, cli: &http.Client{Transport: tr}}
}

// Deployments is api.Cluster's: the cluster's state on a server. An agent
// forwards every request about deployments, so it never asks.
func (rt *Runtime) Deployments() api.Deployments {
	if rt.state == nil {
		return nil
	}
	return rt.state
}

// Replicas is api.Cluster's: what every node last reported.
func (rt *Runtime) Replicas(ctx context.Context) ([]reconcile.ReplicaStatus, error) {
	if rt.state == nil {
		return nil, errors.New("an agent does not hold the cluster's state")
	}
	sts, err := rt.state.Statuses(ctx)
	if err != nil {
		return nil, err
	}
	var out []reconcile.ReplicaStatus
	for node, rs := range sts {
		for _, r := range rs {
			r.Node = node
			out = append(out, reconcile.ReplicaFromWire(r))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Deployment != b.Deployment {
			return a.Deployment < b.Deployment
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Replica != b.Replica {
			return a.Replica < b.Replica
		}
		return a.Node < b.Node
	})
	return out, nil
}

// Public is api.Cluster's.
func (rt *Runtime) Public(path string) bool {
	return path == "/v1/cluster/ca" || path == "/v1/cluster/join" || strings.HasPrefix(path, "/v1/cluster/agent/")
}

// peer is the cluster role and name of r's verified client certificate.
func peer(r *http.Request) (jointoken.Role, string, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return "", "", false
	}
	role, name, ok := clusterjoin.PeerOf(r.TLS)
	return jointoken.Role(role), name, ok
}

// PeerScope is api.Cluster's.
func (rt *Runtime) PeerScope(r *http.Request) (admin, read bool) {
	role, _, ok := peer(r)
	if !ok {
		return false, false
	}
	return role == jointoken.RoleServer, role == jointoken.RoleAgent
}

// Local is api.Cluster's: a server asking for this node's own replicas.
func (rt *Runtime) Local(r *http.Request) bool {
	if r.Header.Get(apitypes.LocalHeader) != "1" {
		return false
	}
	role, _, ok := peer(r)
	return ok && role == jointoken.RoleServer
}

// Wrap is api.Cluster's.
func (rt *Runtime) Wrap(local http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case rt.Local(r) || !strings.HasPrefix(r.URL.Path, "/v1/") || nodeScoped(r.URL.Path):
			local.ServeHTTP(w, r)
		case rt.state == nil:
			rt.forwardToServer(w, r)
		default:
			rt.routeReplica(w, r, local)
		}
	})
}

// nodeScoped are the requests about the node itself, answered where they
// arrive on every node: its images (each node has its own content store).
func nodeScoped(path string) bool {
	return path == "/v1/images" || strings.HasPrefix(path, "/v1/images/")
}

// forwardToServer is an agent passing a request to a server, trying the
// next server when one cannot be reached. The user's bearer token goes
// along unchanged, as does a console session's change with the session's
// token; without either the server grants what the agent's certificate
// may (reading).
func (rt *Runtime) forwardToServer(w http.ResponseWriter, r *http.Request) {
	auth, ok := forwardAuth(r, rt.Public(r.URL.Path))
	if !ok {
		// What the agent's certificate may do is read; a change is the
		// cluster admin's, whichever node it is asked of.
		api.WriteError(w, 403, "forbidden", "this node is an agent: changes go to a server of the cluster and need the cluster's admin token "+
			"(--token or ZLAYER_TOKEN; a server's DATA-DIR/token); reading needs none here")
		return
	}
	if auth != "" && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", auth)
		// The session is this node's: the server needs only its token.
		dropCookie(r, console.CookieName)
	}
	body, ok := replayable(w, r)
	if !ok {
		return
	}
	// The server holds long polls, log follows and execs open as long as
	// they last and enforces its own limits on them.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	var lastErr error
	for _, srv := range rt.serverOrder() {
		target, err := url.Parse(srv)
		if err != nil {
			continue
		}
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		failed := false
		rt.proxy(target, false, func(err error) { failed, lastErr = true, err }).ServeHTTP(w, r)
		if !failed {
			rt.preferServer(srv)
			return
		}
	}
	msg := "no server of the cluster answers"
	if lastErr != nil {
		msg += ": " + lastErr.Error()
	}
	api.WriteError(w, 503, "no_server", msg)
}

// forwardAuth is the Authorization an agent forwards r with: the user's
// own, else for a change asked by a console session (its CSRF token and
// origin checked on the way in) "Bearer " and the session's token, else
// none. ok is false for a change with neither to a path that is not
// public: the agent's certificate only reads.
func forwardAuth(r *http.Request, public bool) (auth string, ok bool) {
	if a := r.Header.Get("Authorization"); a != "" {
		return a, true
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead || public {
		// Reads keep going on the agent's certificate: a session's token
		// is the agent's, which the servers may not share.
		return "", true
	}
	if tok, ok := console.TokenFrom(r.Context()); ok {
		return "Bearer " + tok, true
	}
	return "", false
}

// dropCookie removes the cookie named name from r.
func dropCookie(r *http.Request, name string) {
	cs := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cs {
		if c.Name != name {
			r.AddCookie(c)
		}
	}
}

// replayable reads a small body so that it can be sent again to another
// server; a large or streaming one (an image import, an exec's stdin) goes
// once, to the first server.
func replayable(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength < 0 || r.ContentLength > maxExecPeek || r.Header.Get("Upgrade") != "" {
		return nil, true
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxExecPeek+1))
	if err != nil {
		api.WriteError(w, 400, "bad_request", "reading the body: "+err.Error())
		return nil, false
	}
	return b, true
}

// proxy forwards to target. A connection error before anything was
// written is handed to onErr (the caller tries another server); the
// answer, streams and upgrades (exec -it) pass through as they come.
func (rt *Runtime) proxy(target *url.URL, local bool, onErr func(error)) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = target.Host
			if local {
				pr.Out.Header.Set(apitypes.LocalHeader, "1")
				// The server checked the user's token or session before
				// routing; the node it asks knows only the server's
				// certificate (an agent has no cluster admin token), and
				// a bearer token would be checked instead of it.
				pr.Out.Header.Del("Authorization")
				pr.Out.Header.Del("Cookie")
			} else {
				pr.Out.Header.Del(apitypes.LocalHeader)
			}
		},
		Transport:     rt.peers.tr,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if onErr != nil {
				onErr(err)
				return
			}
			api.WriteError(w, 502, "bad_gateway", "forwarding to "+target.Host+": "+err.Error())
		},
	}
}

func (rt *Runtime) serverOrder() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]string(nil), rt.servers...)
}

func (rt *Runtime) preferServer(srv string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for i, s := range rt.servers {
		if s == srv && i > 0 {
			rt.servers[0], rt.servers[i] = rt.servers[i], rt.servers[0]
		}
	}
}

// routeReplica is a server sending logs and exec of replicas on other
// nodes to those nodes, and the runs of a job or cron service to the node
// that runs them; everything else it answers itself.
func (rt *Runtime) routeReplica(w http.ResponseWriter, r *http.Request, local http.Handler) {
	if dep, svc, ok := runsPath(r.URL.Path); ok {
		rt.routeRuns(w, r, local, dep, svc)
		return
	}
	dep, svc, what, ok := replicaPath(r.URL.Path)
	if !ok || (what == "logs" && r.Method != http.MethodGet) || (what == "exec" && r.Method != http.MethodPost) {
		local.ServeHTTP(w, r)
		return
	}
	index, err := rt.requestedReplica(r, what)
	if err != nil {
		api.WriteError(w, 400, "bad_request", err.Error())
		return
	}
	all, err := rt.Replicas(r.Context())
	if err != nil {
		api.WriteError(w, 503, "unavailable", "the cluster's replicas: "+err.Error())
		return
	}
	nodes := nodesRunning(all, dep, svc, index, what == "exec", rt.name)
	switch {
	case len(nodes) == 0:
		// Let the node's own handler give its not-found answer.
		local.ServeHTTP(w, r)
	case len(nodes) == 1 && nodes[0] == rt.name:
		local.ServeHTTP(w, r)
	case len(nodes) == 1:
		rt.forwardToNode(w, r, nodes[0])
	default:
		rt.mergeLogs(w, r, nodes)
	}
}

// replicaPath splits /v1/deployments/D/services/S/logs|exec.
func replicaPath(p string) (dep, svc, what string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/v1/"), "/")
	if len(parts) != 5 || parts[0] != "deployments" || parts[2] != "services" || (parts[4] != "logs" && parts[4] != "exec") {
		return "", "", "", false
	}
	return parts[1], parts[3], parts[4], true
}

// requestedReplica is the replica index a logs or exec request names (0:
// any). An exec names it in its header or its JSON body, which is read
// here and put back.
func (rt *Runtime) requestedReplica(r *http.Request, what string) (int, error) {
	if what == "logs" {
		n, _ := strconv.Atoi(r.URL.Query().Get("replica"))
		return n, nil
	}
	var req apitypes.ExecRequest
	if h := r.Header.Get(apitypes.ExecHeader); h != "" {
		if err := json.Unmarshal([]byte(h), &req); err != nil {
			return 0, fmt.Errorf("invalid %s header: %w", apitypes.ExecHeader, err)
		}
		return req.Replica, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxExecPeek+1))
	if err != nil {
		return 0, err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	if len(b) > maxExecPeek {
		return 0, errors.New("exec request too large")
	}
	_ = json.Unmarshal(b, &req) // the node's handler reports a bad body
	return req.Replica, nil
}

// nodesRunning are the nodes with replicas of dep/svc (index 0: any). An
// exec wants one node, with a running replica, this one when it can.
func nodesRunning(all []reconcile.ReplicaStatus, dep, svc string, index int, one bool, self string) []string {
	seen := map[string]bool{}
	var nodes []string
	for _, r := range all {
		if r.Deployment != dep || r.Service != svc || (index != 0 && r.Replica != index) {
			continue
		}
		if one && r.PID == 0 {
			continue
		}
		if !seen[r.Node] {
			seen[r.Node] = true
			nodes = append(nodes, r.Node)
		}
	}
	sort.Strings(nodes)
	if one && len(nodes) > 1 {
		if seen[self] {
			return []string{self}
		}
		return nodes[:1]
	}
	return nodes
}

func (rt *Runtime) nodeAPI(ctx context.Context, name string) (*url.URL, error) {
	n, err := rt.state.Node(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	return url.Parse(n.API)
}

// forwardToNode sends a request about node's replicas to node, which
// answers for its own (apitypes.LocalHeader). Streams (logs -f, exec -it)
// last as long as they last: the node enforces its own limits.
func (rt *Runtime) forwardToNode(w http.ResponseWriter, r *http.Request, node string) {
	target, err := rt.nodeAPI(r.Context(), node)
	if err != nil {
		api.WriteError(w, 502, "bad_gateway", err.Error())
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	rt.proxy(target, true, nil).ServeHTTP(w, r)
}

// mergeLogs answers a logs request for replicas on several nodes: each
// node's lines, as they come, one whole line at a time.
func (rt *Runtime) mergeLogs(w http.ResponseWriter, r *http.Request, nodes []string) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, node := range nodes {
		target, err := rt.nodeAPI(ctx, node)
		if err != nil {
			rt.log.Warn("logs of a node's replicas", "node", node, "err", err)
			continue
		}
		u := *target
		u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			continue
		}
		req.Header.Set(apitypes.LocalHeader, "1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := rt.peers.cli.Do(req)
			if err != nil {
				rt.log.Warn("logs of a node's replicas", "node", node, "err", err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				rt.log.Warn("logs of a node's replicas", "node", node, "status", resp.Status)
				return
			}
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			for sc.Scan() {
				mu.Lock()
				_, err := w.Write(append(sc.Bytes(), '\n'))
				if err == nil {
					err = rc.Flush()
				}
				mu.Unlock()
				if err != nil {
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
}
