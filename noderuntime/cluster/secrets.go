package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"github.com/zlayer/zlayer/noderuntime/api"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/clusterjoin"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/secrets"
)

// Secrets in a cluster: the sealed records live in the cluster's state
// (clusterstate.Secrets) under one key that every server keeps in
// DATA-DIR/cluster/secrets.key, apart from etcd's data, and never in etcd:
// made at --cluster-init (the node's own key, when it had secrets, so that
// they move in sealed as they are), handed to a joining server in the join
// handshake, never to an agent. A node creating a replica asks a server
// for the values of its secrets (agentSecrets); the server answers only
// for the secrets of services placed on that node.

const (
	// secretsKeyFile is the cluster's secrets key, in DATA-DIR/cluster.
	secretsKeyFile = "secrets.key"
	// SecretSecretsKey is the Admission secret that carries the key to a
	// server joiner (base64).
	SecretSecretsKey = "secrets_key"
	// secretCallTimeout bounds one ask of one server for a value.
	secretCallTimeout = 10 * time.Second
)

// secretValue is the answer of GET /v1/cluster/agent/secrets/{name}: to
// the node it is for, over the mutual TLS of the cluster CA, only.
type secretValue struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
	Value   []byte `json:"value"`
}

func (rt *Runtime) secretsKeyPath() string { return filepath.Join(rt.dir, secretsKeyFile) }

// initSecretsKey makes the first server's secrets key: the node's own
// when it kept secrets (they move into the cluster sealed under it), else
// a new one. It is written before the identity, so that a server with an
// identity has its key.
func (rt *Runtime) initSecretsKey() error {
	k, err := secrets.ReadKey(secrets.Open(rt.cfg.DataDir).KeyPath())
	if errors.Is(err, fs.ErrNotExist) {
		k, err = secrets.NewKey()
	}
	if err != nil {
		return fmt.Errorf("the cluster's secrets key: %w", err)
	}
	return secrets.WriteKey(rt.secretsKeyPath(), k)
}

// keepJoinedSecretsKey stores the key a server joiner was given.
func (rt *Runtime) keepJoinedSecretsKey(adm clusterjoin.Admission) error {
	enc := adm.Secrets[SecretSecretsKey]
	if enc == "" {
		rt.log.Warn("the server that admitted this one sent no secrets key: secrets cannot be read through this server")
		return nil
	}
	k, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return fmt.Errorf("join: the cluster's secrets key: %w", err)
	}
	return secrets.WriteKey(rt.secretsKeyPath(), k)
}

// loadSecrets opens the cluster's secrets with the server's key. A server
// without one (a server from before the cluster kept secrets) runs, and
// answers secret requests with why it cannot.
func (rt *Runtime) loadSecrets() error {
	k, err := secrets.ReadKey(rt.secretsKeyPath())
	if errors.Is(err, fs.ErrNotExist) {
		rt.log.Warn("this server has no secrets key; secrets are not readable through it", "file", rt.secretsKeyPath())
		return nil
	}
	if err != nil {
		return err
	}
	rt.secKey = k
	rt.secrets = rt.state.Secrets(k, nil)
	return nil
}

// Secrets is api.Cluster's.
func (rt *Runtime) Secrets() api.SecretStore {
	if rt.secrets == nil {
		return nil
	}
	return rt.secrets
}

// SecretSource is where the node's controller reads the values of its
// replicas' secrets: a server opens them itself, an agent asks a server.
func (rt *Runtime) SecretSource() reconcile.SecretSource {
	if rt.state == nil {
		return &agentSecrets{rt: rt}
	}
	if rt.secrets == nil {
		return noSecrets{}
	}
	return rt.secrets
}

// noSecrets is a server without the key.
type noSecrets struct{}

func (noSecrets) Value(name string) ([]byte, int64, error) {
	return nil, 0, fmt.Errorf("secret %q: this server has no secrets key (DATA-DIR/cluster/%s)", name, secretsKeyFile)
}

// agentSecrets asks the servers, in turn, for a value. Nothing is kept:
// the controller writes file secrets to the node's tmpfs, where running
// replicas keep them while no server answers.
type agentSecrets struct{ rt *Runtime }

func (a *agentSecrets) Value(name string) ([]byte, int64, error) {
	var v secretValue
	q := url.Values{"node": {a.rt.name}}
	err := a.rt.callServer(context.Background(), http.MethodGet, "/v1/cluster/agent/secrets/"+url.PathEscape(name)+"?"+q.Encode(), nil, secretCallTimeout, &v)
	if err != nil {
		return nil, 0, fmt.Errorf("secret %q from the servers: %w", name, err)
	}
	return v.Value, v.Version, nil
}

// adoptLocalSecrets moves the secrets of the node it was into the new
// cluster's state, sealed as they are: the cluster's key is that node's.
func (rt *Runtime) adoptLocalSecrets(ctx context.Context) error {
	local := secrets.Open(rt.cfg.DataDir)
	recs, err := local.Sealed()
	if err != nil || len(recs) == 0 {
		return err
	}
	k, err := secrets.ReadKey(local.KeyPath())
	if err != nil || !slices.Equal(k, rt.secKey) {
		rt.log.Warn("the node's secrets are sealed under another key than the cluster's; left out of the cluster", "err", err)
		return nil
	}
	done, err := rt.state.ImportSecrets(ctx, recs)
	if err != nil {
		return fmt.Errorf("moving the node's secrets into the cluster: %w", err)
	}
	rt.log.Info("the node's secrets moved into the cluster's state", "secrets", done)
	return nil
}

// agentSecretHandler answers a node the value of a secret that a service
// placed on it uses (a replica assigned to it, or moving away from it);
// any other is refused, so a node learns only what it runs.
func (rt *Runtime) agentSecretHandler(w http.ResponseWriter, r *http.Request) {
	node, name := r.URL.Query().Get("node"), r.PathValue("name")
	if !peerIs(w, r, node) {
		return
	}
	if rt.secrets == nil {
		api.WriteError(w, 503, "unavailable", "this server has no secrets key: ask another")
		return
	}
	ok, err := rt.secretPlacedOn(r.Context(), node, name)
	if err != nil {
		api.WriteError(w, 503, "unavailable", err.Error())
		return
	}
	if !ok {
		rt.log.Warn("a node asked for a secret no service placed on it uses; refused", "node", node, "secret", name)
		api.WriteError(w, 403, "forbidden", fmt.Sprintf("no service placed on node %s uses secret %q", node, name))
		return
	}
	v, ver, err := rt.secrets.ValueCtx(r.Context(), name)
	if errors.Is(err, secrets.ErrNotFound) {
		api.WriteError(w, 404, "not_found", err.Error())
		return
	}
	if err != nil {
		api.WriteError(w, 500, "internal", err.Error())
		return
	}
	rt.log.Debug("secret sent to its node", "node", node, "secret", name, "version", ver)
	w.Header().Set("Cache-Control", "no-store")
	apitypes.WriteJSON(w, 200, secretValue{Name: name, Version: ver, Value: v})
}

// secretPlacedOn says whether a service with a replica assigned to node
// (or moving away from it) uses secret name.
func (rt *Runtime) secretPlacedOn(ctx context.Context, node, name string) (bool, error) {
	asg, _, err := rt.state.Assignments(ctx)
	if err != nil {
		return false, err
	}
	placed := map[[2]string]bool{}
	for k, a := range asg {
		if a.Node == node || a.From == node {
			placed[[2]string{k.Deployment, k.Service}] = true
		}
	}
	if len(placed) == 0 {
		return false, nil
	}
	recs, err := rt.state.ListCtx(ctx)
	if err != nil {
		return false, err
	}
	for _, rec := range recs {
		for svcName, svc := range rec.Spec.Services {
			if placed[[2]string{rec.Name, svcName}] && slices.Contains(svc.SecretNames(), name) {
				return true, nil
			}
		}
	}
	return false, nil
}

// joinerSecretsKey is the key as a server joiner is given it.
func (rt *Runtime) joinerSecretsKey() string {
	if rt.secKey == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(rt.secKey)
}
