package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zlayer/zlayer/noderuntime/api"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/clusterjoin"
	"github.com/zlayer/zlayer/noderuntime/clusterstate"
	"github.com/zlayer/zlayer/noderuntime/etcdmember"
	"github.com/zlayer/zlayer/noderuntime/jointoken"
	"github.com/zlayer/zlayer/noderuntime/pki"
)

// Routes is api.Cluster's. An agent has none of its own: its Wrap sends
// them to a server.
func (rt *Runtime) Routes(mux *http.ServeMux) {
	if rt.state == nil {
		return
	}
	rt.auth.Register(mux)
	mux.HandleFunc("GET /v1/cluster/nodes", rt.nodes)
	mux.HandleFunc("POST /v1/cluster/nodes/{name}/{action}", rt.nodeAction)
	mux.HandleFunc("POST /v1/cluster/tokens", rt.tokenCreate)
	mux.HandleFunc("GET /v1/cluster/tokens", rt.tokenList)
	mux.HandleFunc("DELETE /v1/cluster/tokens/{id}", rt.tokenRevoke)
	mux.HandleFunc("GET /v1/cluster/snapshot", rt.snapshot)
	mux.HandleFunc("GET /v1/cluster/agent/work", rt.agentWorkHandler)
	mux.HandleFunc("POST /v1/cluster/agent/report", rt.agentReportHandler)
	mux.HandleFunc("GET /v1/cluster/agent/secrets/{name}", rt.agentSecretHandler)
}

// nodes answers `zlayer nodes`.
func (rt *Runtime) nodes(w http.ResponseWriter, r *http.Request) {
	list, err := rt.nodeList(r.Context())
	if err != nil {
		api.WriteError(w, 503, "unavailable", err.Error())
		return
	}
	apitypes.WriteJSON(w, 200, list)
}

func (rt *Runtime) nodeList(ctx context.Context) (*apitypes.NodeList, error) {
	nodes, err := rt.state.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	alive, err := rt.state.Alive(ctx)
	if err != nil {
		return nil, err
	}
	asg, _, err := rt.state.Assignments(ctx)
	if err != nil {
		return nil, err
	}
	// A node's replicas are those placed on it or moving away from it, and
	// those it still reports running (a drained replica stopping).
	count := map[string]int{}
	for _, a := range asg {
		count[a.Node]++
		if a.From != "" {
			count[a.From]++
		}
	}
	sts, err := rt.state.Statuses(ctx)
	if err != nil {
		return nil, err
	}
	for node, rs := range sts {
		count[node] = max(count[node], len(rs))
	}
	sched, _ := rt.state.Leader(ctx)
	etcdLeader, voters := rt.etcdLeader(ctx)
	out := &apitypes.NodeList{Nodes: []apitypes.Node{}, Servers: voters}
	readyServers := 0
	for _, n := range nodes {
		st := apitypes.NodeReady
		switch {
		case !alive[n.Name]:
			st = apitypes.NodeNotReady
		case n.Draining:
			st = apitypes.NodeDraining
		case n.Cordoned:
			st = apitypes.NodeCordoned
		}
		if n.Role == string(jointoken.RoleServer) && alive[n.Name] {
			readyServers++
		}
		out.Nodes = append(out.Nodes, apitypes.Node{
			Name: n.Name, Role: n.Role, State: st, Address: n.Address, API: n.API, Labels: n.Labels,
			Replicas: count[n.Name], Leader: n.Name == etcdLeader, Scheduler: n.Name == sched,
			Subnet: n.Subnet, Version: n.Version, JoinedAt: n.JoinedAt,
		})
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Name < out.Nodes[j].Name })
	// etcd stays writable while a majority of its voting members is up.
	if voters > 0 {
		out.FaultTolerance = (voters - 1) / 2
	}
	switch {
	case voters < 3:
		out.Warning = fmt.Sprintf("%d server(s): no fault tolerance — losing a server stops all writes; run 3 (or 5) servers", voters)
	case readyServers < voters:
		out.Warning = fmt.Sprintf("%d of %d servers ready", readyServers, voters)
	}
	return out, nil
}

// etcdLeader names the member leading etcd and counts the voters.
func (rt *Runtime) etcdLeader(ctx context.Context) (string, int) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ml, err := rt.etcd.MemberList(ctx)
	if err != nil {
		return "", 0
	}
	voters := 0
	names := map[uint64]string{}
	for _, m := range ml.Members {
		names[m.ID] = m.Name
		if !m.IsLearner {
			voters++
		}
	}
	for _, m := range ml.Members {
		for _, u := range m.ClientURLs {
			st, err := rt.etcd.Status(ctx, u)
			if err == nil && st.Leader != 0 {
				return names[st.Leader], voters
			}
		}
	}
	return "", voters
}

// nodeAction is cordon, uncordon and drain.
func (rt *Runtime) nodeAction(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	var cordoned, draining bool
	switch action {
	case "cordon":
		cordoned = true
	case "uncordon":
	case "drain":
		cordoned, draining = true, true
	default:
		api.WriteError(w, 404, "not_found", fmt.Sprintf("no node action %q (cordon, uncordon, drain)", action))
		return
	}
	err := rt.state.SetSchedulable(r.Context(), name, cordoned, draining)
	if errors.Is(err, clusterstate.ErrNodeNotFound) {
		api.WriteError(w, 404, "not_found", fmt.Sprintf("no node %q in the cluster", name))
		return
	}
	if err != nil {
		api.WriteError(w, 503, "unavailable", err.Error())
		return
	}
	rt.log.Info("node "+action, "node", name)
	list, err := rt.nodeList(r.Context())
	if err != nil {
		api.WriteError(w, 503, "unavailable", err.Error())
		return
	}
	apitypes.WriteJSON(w, 200, list)
}

func (rt *Runtime) tokens() jointoken.Store { return rt.auth.Tokens }

func (rt *Runtime) createToken(role string, ttl time.Duration) (apitypes.Token, error) {
	ro, err := jointoken.ParseRole(role)
	if err != nil {
		return apitypes.Token{}, err
	}
	tok, err := rt.tokens().Create(ro, ttl)
	if err != nil {
		return apitypes.Token{}, err
	}
	out := apitypes.Token{ID: tok.ID, Role: string(tok.Role), Token: tok.Encode()}
	if infos, err := rt.tokens().List(); err == nil {
		for _, i := range infos {
			if i.ID == tok.ID {
				out.CreatedAt, out.ExpiresAt = i.Created, i.Expires
			}
		}
	}
	return out, nil
}

func (rt *Runtime) tokenCreate(w http.ResponseWriter, r *http.Request) {
	var req apitypes.TokenRequest
	if !api.DecodeJSON(w, r, 4096, &req) {
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			api.WriteError(w, 400, "bad_request", fmt.Sprintf("ttl %q: want a positive duration such as 24h", req.TTL))
			return
		}
		ttl = d
	}
	tok, err := rt.createToken(req.Role, ttl)
	if errors.Is(err, jointoken.ErrMalformed) {
		api.WriteError(w, 400, "bad_request", err.Error())
		return
	}
	if err != nil {
		api.WriteError(w, 503, "unavailable", err.Error())
		return
	}
	rt.log.Info("join token created", "id", tok.ID, "role", tok.Role, "ttl", req.TTL)
	apitypes.WriteJSON(w, 201, tok)
}

func (rt *Runtime) tokenList(w http.ResponseWriter, r *http.Request) {
	infos, err := rt.tokens().List()
	if err != nil {
		api.WriteError(w, 503, "unavailable", err.Error())
		return
	}
	out := []apitypes.Token{}
	for _, i := range infos {
		out = append(out, apitypes.Token{ID: i.ID, Role: string(i.Role), CreatedAt: i.Created, ExpiresAt: i.Expires, RevokedAt: i.Revoked})
	}
	apitypes.WriteJSON(w, 200, out)
}

func (rt *Runtime) tokenRevoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := rt.tokens().Revoke(id)
	if errors.Is(err, jointoken.ErrUnknown) {
		api.WriteError(w, 404, "not_found", fmt.Sprintf("no join token %q", id))
		return
	}
	if err != nil {
		api.WriteError(w, 503, "unavailable", err.Error())
		return
	}
	rt.log.Info("join token revoked", "id", id)
	apitypes.WriteJSON(w, 200, map[string]string{"revoked": id})
}

// snapshot streams etcd's own snapshot of the cluster's state.
func (rt *Runtime) snapshot(w http.ResponseWriter, r *http.Request) {
	rc, err := rt.etcd.Snapshot(r.Context())
	if err != nil {
		api.WriteError(w, 503, "unavailable", err.Error())
		return
	}
	defer rc.Close()
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(10 * time.Minute))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		rt.log.Warn("sending a snapshot", "err", err)
	}
}

// peerIs checks that r comes with the certificate of node name.
func peerIs(w http.ResponseWriter, r *http.Request, name string) bool {
	_, got, ok := peer(r)
	if !ok {
		api.WriteError(w, 401, "unauthorized", "a node's own endpoints need its cluster certificate")
		return false
	}
	if got != name {
		api.WriteError(w, 403, "forbidden", fmt.Sprintf("node %q may not act for node %q", got, name))
		return false
	}
	return true
}

func (rt *Runtime) agentWorkHandler(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	node := q.Get("node")
	if !peerIs(w, r, node) {
		return
	}
	since, _ := strconv.ParseInt(q.Get("since"), 10, 64)
	wait, _ := time.ParseDuration(q.Get("wait"))
	wait = min(max(wait, 0), maxWorkWait)
	if since > 0 && wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		_, _ = rt.state.WaitChange(ctx, since)
		cancel()
		if r.Context().Err() != nil {
			return
		}
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(30 * time.Second))
	}
	work, err := rt.work(r.Context(), node)
	if err != nil {
		api.WriteError(w, 503, "unavailable", err.Error())
		return
	}
	apitypes.WriteJSON(w, 200, work)
}

func (rt *Runtime) agentReportHandler(w http.ResponseWriter, r *http.Request) {
	var rep apitypes.Report
	if !api.DecodeJSON(w, r, maxReportBytes, &rep) {
		return
	}
	if !peerIs(w, r, rep.Node.Name) {
		return
	}
	if role, _, _ := peer(r); string(role) != rep.Node.Role {
		api.WriteError(w, 403, "forbidden", "a node reports the role of its certificate")
		return
	}
	if err := rt.serveReport(r.Context(), rep); err != nil {
		api.WriteError(w, 503, "unavailable", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// agentWork is an agent's long poll of a server for its work.
func (rt *Runtime) agentWork(ctx context.Context, since int64) (*apitypes.Work, error) {
	q := url.Values{"node": {rt.name}, "since": {strconv.FormatInt(since, 10)}, "wait": {workWait.String()}}
	var w apitypes.Work
	err := rt.callServer(ctx, http.MethodGet, "/v1/cluster/agent/work?"+q.Encode(), nil, workWait+15*time.Second, &w)
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// agentReport is an agent's heartbeat through a server.
func (rt *Runtime) agentReport(ctx context.Context, rs []apitypes.ReplicaStatus) error {
	if rs == nil {
		rs = []apitypes.ReplicaStatus{}
	}
	b, err := json.Marshal(apitypes.Report{Node: rt.selfInfo(), Replicas: rs})
	if err != nil {
		return err
	}
	return rt.callServer(ctx, http.MethodPost, "/v1/cluster/agent/report", b, 10*time.Second, nil)
}

// callServer asks the servers in turn until one answers.
func (rt *Runtime) callServer(ctx context.Context, method, path string, body []byte, timeout time.Duration, out any) error {
	var errs []error
	for _, srv := range rt.serverOrder() {
		err := rt.call(ctx, method, srv+path, body, timeout, out)
		if err == nil {
			rt.preferServer(srv)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return errors.New("no server known")
	}
	return errors.Join(errs...)
}

func (rt *Runtime) call(ctx context.Context, method, u string, body []byte, timeout time.Duration, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := rt.peers.cli.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e apitypes.Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s %s: %s", method, u, e.Message)
		}
		return fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(out)
}

// admit is the join authority's check on a verified token: the name must
// not be that of a live node, a server joiner is added to etcd as a
// learner, and the joiner is told the servers (and, a server, the API
// tokens it will answer to).
func (rt *Runtime) admit(ctx context.Context, req clusterjoin.Request, role jointoken.Role) (clusterjoin.Admission, error) {
	var adm clusterjoin.Admission
	// First: a refused joiner must leave nothing in the cluster.
	if err := rt.checkJoiner(ctx, req.Name, req.NetworkMode); err != nil {
		return adm, err
	}
	alive, err := rt.state.Alive(ctx)
	if err != nil {
		return adm, err
	}
	if alive[req.Name] {
		return adm, fmt.Errorf("%w: a node named %q is in the cluster and alive; give this one another --node-name", clusterjoin.ErrNameTaken, req.Name)
	}
	nodes, err := rt.state.Nodes(ctx)
	if err != nil {
		return adm, err
	}
	for _, n := range nodes {
		if n.Role == string(jointoken.RoleServer) && n.API != "" {
			adm.Servers = append(adm.Servers, n.API)
		}
	}
	sort.Strings(adm.Servers)
	cidr, err := netip.ParsePrefix(rt.cfg.ClusterCIDR)
	if err != nil {
		return adm, err
	}
	sub, err := rt.state.AllocateSubnet(ctx, req.Name, cidr, DefaultSubnetBits)
	if err != nil {
		return adm, fmt.Errorf("a subnet for %s: %w", req.Name, err)
	}
	adm.Subnet = sub.String()
	if role == jointoken.RoleServer {
		if req.PeerURL == "" {
			return adm, errors.New("a server joiner must give its etcd peer URL")
		}
		j, err := etcdmember.AddLearner(ctx, rt.etcd, req.Name, req.PeerURL)
		if err != nil {
			return adm, fmt.Errorf("adding %s to etcd: %w", req.Name, err)
		}
		adm.Etcd = j
		adm.Secrets = map[string]string{SecretAdminToken: rt.cfg.AdminToken, SecretReadToken: rt.cfg.ReadToken}
		if k := rt.joinerSecretsKey(); k != "" {
			adm.Secrets[SecretSecretsKey] = k
		}
	}
	rt.log.Info("node admitted", "name", req.Name, "role", role, "address", req.Address)
	return adm, nil
}

func loadToken(path string) (string, error) {
	b, err := pki.ReadPrivate(path)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", os.ErrNotExist
	}
	return t, nil
}

func writeSecret(path, s string) error { return pki.WriteFile(path, []byte(s+"\n"), 0o600) }
