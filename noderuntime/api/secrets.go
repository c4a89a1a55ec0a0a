package api

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/secrets"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// SecretStore keeps secrets: a node's (secrets.Store) or a cluster's
// (clusterstate.Secrets, on a server).
type SecretStore interface {
	Put(name string, value []byte) (secrets.Info, error)
	Value(name string) (value []byte, version int64, err error)
	List() ([]secrets.Info, error)
	Versions() (map[string]int64, error)
	Delete(name string) error
}

// errNoSecretsKey is a cluster server without the cluster's secrets key:
// one that was a server before the cluster kept secrets.
const errNoSecretsKey = "this server has no secrets key (DATA-DIR/cluster/secrets.key), so it cannot open the cluster's secrets: " +
	"ask another server, or copy the key from one (mode 0600) and restart this one"

// secretRoutes adds the secret store's endpoints. Values go in (PUT) and
// never come out: the API has no route that answers one.
func (s *Server) secretRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/secrets", s.listSecrets)
	mux.HandleFunc("PUT /v1/secrets/{name}", s.putSecret)
	mux.HandleFunc("DELETE /v1/secrets/{name}", s.deleteSecret)
}

// secretStore is where the secrets are kept: the cluster's on a cluster
// server, else the node's. Without one, it answers and is nil.
func (s *Server) secretStore(w http.ResponseWriter) SecretStore {
	st, why := s.secretsOf()
	if st == nil {
		writeErr(w, 501, "not_implemented", why)
	}
	return st
}

// secretsOf is the secret store, or why there is none.
func (s *Server) secretsOf() (SecretStore, string) {
	if s.Cluster != nil {
		if st := s.Cluster.Secrets(); st != nil {
			return st, ""
		}
		return nil, errNoSecretsKey
	}
	if s.Secrets == nil {
		return nil, "this node keeps no secrets"
	}
	return s.Secrets, ""
}

// secretUsers maps each secret name to the deployment/service pairs
// using it, and to the deployments using it.
func (s *Server) secretUsers(r *http.Request) (services, deployments map[string][]string, err error) {
	recs, err := s.deployments(r).List()
	if err != nil {
		return nil, nil, err
	}
	services, deployments = map[string][]string{}, map[string][]string{}
	for _, rec := range recs {
		seen := map[string]bool{}
		for _, svc := range rec.Spec.StartOrder() {
			for _, n := range rec.Spec.Services[svc].SecretNames() {
				services[n] = append(services[n], rec.Spec.Deployment+"/"+svc)
				if !seen[n] {
					deployments[n] = append(deployments[n], rec.Spec.Deployment)
					seen[n] = true
				}
			}
		}
	}
	for _, m := range []map[string][]string{services, deployments} {
		for _, l := range m {
			sort.Strings(l)
		}
	}
	return services, deployments, nil
}

func wireSecret(i secrets.Info, used []string) apitypes.SecretInfo {
	return apitypes.SecretInfo{Name: i.Name, Size: i.Size, Version: i.Version, CreatedAt: i.Created, UpdatedAt: i.Updated,
		UsedBy: append([]string{}, used...)}
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) {
	st := s.secretStore(w)
	if st == nil {
		return
	}
	l, err := st.List()
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	used, _, err := s.secretUsers(r)
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	out := make([]apitypes.SecretInfo, 0, len(l))
	for _, i := range l {
		out = append(out, wireSecret(i, used[i.Name]))
	}
	writeJSON(w, 200, out)
}

// putSecret sets a secret from the raw body and rolls the deployments
// using it when the value changed.
func (s *Server) putSecret(w http.ResponseWriter, r *http.Request) {
	st := s.secretStore(w)
	if st == nil {
		return
	}
	name := r.PathValue("name")
	v, ok := readBody(w, r, secrets.MaxValueBytes)
	if !ok {
		return
	}
	before, _, _ := st.Value(name)
	info, err := st.Put(name, v)
	switch {
	case errors.Is(err, secrets.ErrEmpty), errors.Is(err, secrets.ErrTooLarge), spec.CheckName(name) != nil:
		writeErr(w, 400, "bad_request", err.Error())
		return
	case errors.Is(err, secrets.ErrTooMany):
		writeErr(w, 409, "too_many", err.Error())
		return
	case err != nil:
		writeErr(w, 500, "internal", err.Error())
		return
	}
	code := 200
	if before == nil {
		code = 201
	}
	used, deps, err := s.secretUsers(r)
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	out := wireSecret(info, used[name])
	for _, dep := range deps[name] {
		rolled, err := s.rollSecretUser(r, st, dep)
		if err != nil {
			writeErr(w, 500, "internal", fmt.Sprintf("secret %s was saved, but rolling deployment %s failed: %v", name, dep, err))
			return
		}
		if rolled {
			out.Rolled = append(out.Rolled, dep)
		}
	}
	if len(out.Rolled) > 0 {
		s.Controller.Trigger()
	}
	s.Log.Info("secret set", "secret", name, "version", info.Version, "rolled", out.Rolled)
	writeJSON(w, code, out)
}

// rollSecretUser records the current secret versions in dep's spec,
// making a generation (which rolls the services whose versions moved)
// when any did.
func (s *Server) rollSecretUser(r *http.Request, st SecretStore, dep string) (bool, error) {
	unlock := s.lock(dep)
	defer unlock()
	deps := s.deployments(r)
	rec, err := deps.Get(dep)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	versions, err := st.Versions()
	if err != nil {
		return false, err
	}
	if !rec.Spec.SetSecretVersions(versions) {
		return false, nil
	}
	_, err = s.putChange(r, deps, rec.Spec, rec.Source, store.CauseSecret)
	return err == nil, err
}

// deleteSecret removes a secret no deployment uses. One in use is refused:
// its replicas could not be recreated (a restart, a crash, a node reboot)
// without it, and the spec would no longer deploy.
func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) {
	st := s.secretStore(w)
	if st == nil {
		return
	}
	name := r.PathValue("name")
	used, _, err := s.secretUsers(r)
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	if u := used[name]; len(u) > 0 {
		writeErr(w, 409, "in_use", "secret "+name+" is used by "+strings.Join(u, ", ")+"; remove it from those specs (or zlayer down them) first")
		return
	}
	err = st.Delete(name)
	if errors.Is(err, secrets.ErrNotFound) {
		writeErr(w, 404, "not_found", fmt.Sprintf("secret %q not found", name))
		return
	}
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	s.Log.Info("secret removed", "secret", name)
	writeJSON(w, 200, apitypes.Deleted{Deleted: name})
}

// secretParseOption is apply's ParseOptions.SecretExists: a spec naming
// a secret the node (or the cluster) lacks is refused at the name's
// position.
func (s *Server) secretParseOption() func(string) bool {
	st, _ := s.secretsOf()
	if st == nil && s.Cluster != nil {
		// A server without the key: refused after the parse, saying why,
		// not as unknown.
		return nil
	}
	return func(name string) bool {
		if st == nil {
			return false
		}
		_, _, err := st.Value(name)
		return err == nil
	}
}

// setSecretVersions records in d the versions of the secrets it uses;
// a refusal is answered (false).
func (s *Server) setSecretVersions(w http.ResponseWriter, d *spec.Deployment) bool {
	if len(d.SecretNames()) == 0 {
		return true
	}
	st, why := s.secretsOf()
	if st == nil {
		writeErr(w, 422, "unsupported", why)
		return false
	}
	versions, err := st.Versions()
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return false
	}
	d.SetSecretVersions(versions)
	return true
}
