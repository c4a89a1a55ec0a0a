package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zlayer/zlayer/noderuntime/api"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/clusterstate"
)

// runsAskTimeout bounds a server's question to a job's node for a status:
// a node that does not answer leaves the runs out of the status, it does
// not hold the status up.
const runsAskTimeout = 3 * time.Second

// runsPath splits /v1/deployments/D/services/S/runs.
func runsPath(p string) (dep, svc string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/v1/"), "/")
	if len(parts) != 5 || parts[0] != "deployments" || parts[2] != "services" || parts[4] != "runs" {
		return "", "", false
	}
	return parts[1], parts[3], true
}

// runsOwner is the node that runs dep/svc's runs: the one placed its
// replica 1 ("" while none is).
func (rt *Runtime) runsOwner(ctx context.Context, dep, svc string) (string, error) {
	asg, _, err := rt.state.Assignments(ctx)
	if err != nil {
		return "", err
	}
	return asg[clusterstate.ReplicaKey{Deployment: dep, Service: svc, Index: 1}].Node, nil
}

// routeRuns is a server sending job run and job runs to the node that
// runs the service's runs. Without an owner (not placed yet, not a job)
// the server's own handler gives its answer.
func (rt *Runtime) routeRuns(w http.ResponseWriter, r *http.Request, local http.Handler, dep, svc string) {
	owner, err := rt.runsOwner(r.Context(), dep, svc)
	if err != nil {
		api.WriteError(w, 503, "unavailable", "the cluster's placement: "+err.Error())
		return
	}
	if owner == "" || owner == rt.name {
		local.ServeHTTP(w, r)
		return
	}
	rt.forwardToNode(w, r, owner)
}

// Runs is api.Cluster's: dep/svc's runs as the node that runs them keeps
// them; nil when that is this node (or none), whose controller answers.
func (rt *Runtime) Runs(ctx context.Context, dep, svc string) (*apitypes.RunList, error) {
	if rt.state == nil {
		return nil, nil
	}
	owner, err := rt.runsOwner(ctx, dep, svc)
	if err != nil || owner == "" || owner == rt.name {
		return nil, err
	}
	target, err := rt.nodeAPI(ctx, owner)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, runsAskTimeout)
	defer cancel()
	u := *target
	u.Path = "/v1/deployments/" + url.PathEscape(dep) + "/services/" + url.PathEscape(svc) + "/runs"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(apitypes.LocalHeader, "1")
	resp, err := rt.peers.cli.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the runs of %s/%s on node %s: %w", dep, svc, owner, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReportBytes))
	if err != nil {
		return nil, fmt.Errorf("the runs of %s/%s on node %s: %w", dep, svc, owner, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the runs of %s/%s on node %s: %s: %s", dep, svc, owner, resp.Status, strings.TrimSpace(string(body)))
	}
	var list apitypes.RunList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("the runs of %s/%s on node %s: %w", dep, svc, owner, err)
	}
	return &list, nil
}
