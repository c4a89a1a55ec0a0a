package apiclient

import (
	"context"
	"net/url"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// History lists the kept generations of a deployment, oldest first.
func (c *Client) History(ctx context.Context, dep string) ([]apitypes.Generation, error) {
	var out []apitypes.Generation
	return out, c.json(ctx, "GET", "/v1/deployments/"+url.PathEscape(dep)+"/history", nil, &out)
}

// Rollback makes a new generation of dep with the spec of generation to
// (0: the newest kept one before the current that runs other replicas).
func (c *Client) Rollback(ctx context.Context, dep string, to int64) (*apitypes.DeploymentStatus, error) {
	var out apitypes.DeploymentStatus
	return &out, c.json(ctx, "POST", "/v1/deployments/"+url.PathEscape(dep)+"/rollback", apitypes.RollbackRequest{To: to}, &out)
}

// Restart rolls every replica of dep/svc by the service's update policy.
func (c *Client) Restart(ctx context.Context, dep, svc string) (*apitypes.DeploymentStatus, error) {
	var out apitypes.DeploymentStatus
	return &out, c.json(ctx, "POST", svcPath(dep, svc)+"/restart", nil, &out)
}

// RunNow starts a run of the job or cron service dep/svc now.
func (c *Client) RunNow(ctx context.Context, dep, svc string) (*apitypes.Run, error) {
	var out apitypes.Run
	return &out, c.json(ctx, "POST", svcPath(dep, svc)+"/runs", nil, &out)
}

// Runs lists the kept runs of the job or cron service dep/svc, newest first.
func (c *Client) Runs(ctx context.Context, dep, svc string) (*apitypes.RunList, error) {
	var out apitypes.RunList
	return &out, c.json(ctx, "GET", svcPath(dep, svc)+"/runs", nil, &out)
}
