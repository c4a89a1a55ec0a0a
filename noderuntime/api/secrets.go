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

// errSecretsInCluster is why a cluster node refuses secrets: its
// deployments live in the cluster's state, which does not carry the
// values (nor a key shared by the servers) yet.
const errSecretsInCluster = "secrets are not yet supported in cluster mode: they are kept per node, and a cluster's state does not carry them yet"

// secretRoutes adds the secret store's endpoints. Values go in (PUT) and
// never come out: the API has no route that answers one.
func (s *Server) secretRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/secrets", s.listSecrets)
	mux.HandleFunc("PUT /v1/secrets/{name}", s.putSecret)
	mux.HandleFunc("DELETE /v1/secrets/{name}", s.deleteSecret)
}

// secretStore answers 501 (false) when this node cannot keep secrets.
func (s *Server) secretStore(w http.ResponseWriter) bool {
	switch {
	case s.Cluster != nil:
		writeErr(w, 501, "not_implemented", errSecretsInCluster)
		return false
	case s.Secrets == nil:
		writeErr(w, 501, "not_implemented", "this node keeps no secrets")
		return false
	}
	return true
}

// secretUsers maps each secret name to the deployment/service pairs
// using it, and to the deployments using it.
func (s *Server) secretUsers() (services, deployments map[string][]string, err error) {
	recs, err := s.Store.List()
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
	if !s.secretStore(w) {
		return
	}
	l, err := s.Secrets.List()
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	used, _, err := s.secretUsers()
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
	if !s.secretStore(w) {
		return
	}
	name := r.PathValue("name")
	v, ok := readBody(w, r, secrets.MaxValueBytes)
	if !ok {
		return
	}
	before, _, _ := s.Secrets.Value(name)
	info, err := s.Secrets.Put(name, v)
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
	used, deps, err := s.secretUsers()
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	out := wireSecret(info, used[name])
	for _, dep := range deps[name] {
		rolled, err := s.rollSecretUser(r, dep)
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
func (s *Server) rollSecretUser(r *http.Request, dep string) (bool, error) {
	unlock := s.lock(dep)
	defer unlock()
	rec, err := s.Store.Get(dep)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	versions, err := s.Secrets.Versions()
	if err != nil {
		return false, err
	}
	if !rec.Spec.SetSecretVersions(versions) {
		return false, nil
	}
	_, err = s.putChange(r, s.Store, rec.Spec, rec.Source, store.CauseSecret)
	return err == nil, err
}

// deleteSecret removes a secret no deployment uses. One in use is refused:
// its replicas could not be recreated (a restart, a crash, a node reboot)
// without it, and the spec would no longer deploy.
func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) {
	if !s.secretStore(w) {
		return
	}
	name := r.PathValue("name")
	used, _, err := s.secretUsers()
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	if u := used[name]; len(u) > 0 {
		writeErr(w, 409, "in_use", "secret "+name+" is used by "+strings.Join(u, ", ")+"; remove it from those specs (or zlayer down them) first")
		return
	}
	err = s.Secrets.Delete(name)
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
// a secret the node lacks is refused at the name's position.
func (s *Server) secretParseOption() func(string) bool {
	if s.Cluster != nil {
		// Refused after the parse with a message about cluster mode,
		// not as unknown.
		return nil
	}
	return func(name string) bool {
		if s.Secrets == nil {
			return false
		}
		_, _, err := s.Secrets.Value(name)
		return err == nil
	}
}

// setSecretVersions records in d the versions of the secrets it uses;
// a refusal is answered (false).
func (s *Server) setSecretVersions(w http.ResponseWriter, d *spec.Deployment) bool {
	if len(d.SecretNames()) == 0 {
		return true
	}
	switch {
	case s.Cluster != nil:
		writeErr(w, 422, "unsupported", errSecretsInCluster)
		return false
	case s.Secrets == nil:
		writeErr(w, 422, "unsupported", "this node keeps no secrets")
		return false
	}
	versions, err := s.Secrets.Versions()
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return false
	}
	d.SetSecretVersions(versions)
	return true
}
