package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/zlayer/zlayer/internal/yamldoc"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// DeployCmd applies a deployment spec.
type DeployCmd struct {
	NodeFlags
	SpecArg string        `arg:"" optional:"" name:"spec-file" help:"Deployment spec (YAML)." type:"path"`
	Spec    string        `help:"Deployment spec (YAML); same as the positional argument." type:"path"`
	DryRun  bool          `name:"dry-run" help:"Validate the spec without a node."`
	Wait    bool          `name:"wait" xor:"wait" help:"Wait until the rollout is done and every service is ready (the default)."`
	NoWait  bool          `name:"no-wait" xor:"wait" help:"Return once the node accepted the spec, without waiting for readiness."`
	Timeout time.Duration `default:"5m" help:"How long to wait for the deployment to be ready."`
}

func (c *DeployCmd) Help() string {
	return `Unless --no-wait, deploy waits for the rollout: it exits 0 once every
service is ready on the new spec, and 1 when the rollout failed (a new replica
not ready within its update.monitor): paused where it stopped, or rolled back
to the previous generation (update.failure_action), or when --timeout passed.

Examples:
  zlayer deploy shop.yaml
  zlayer deploy shop.yaml --timeout 10m
  zlayer deploy shop.yaml --no-wait && zlayer status
  zlayer deploy --dry-run shop.yaml`
}

func (c *DeployCmd) Run(ctx context.Context) error {
	path := c.SpecArg
	if path == "" {
		path = c.Spec
	}
	if path == "" {
		return errors.New("deploy: name a spec file (zlayer deploy SPEC or --spec SPEC)")
	}
	if c.SpecArg != "" && c.Spec != "" && c.SpecArg != c.Spec {
		return errors.New("deploy: give the spec once, as an argument or with --spec")
	}
	data, err := yamldoc.ReadFile(path, spec.MaxBytes)
	if err != nil {
		return err
	}
	// Without the node, its default network mode is unknown: it is left
	// unset, and the node applies its own when the spec is applied.
	d, err := spec.ParseWith(path, data, spec.ParseOptions{})
	if err != nil {
		return exitError{code: 1, err: fmt.Errorf("invalid spec:\n%w", err)}
	}
	if c.DryRun {
		printPlan(os.Stdout, path, d)
		return nil
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	st, err := cl.Apply(ctx, path, string(data))
	if err != nil {
		return err
	}
	fmt.Printf("deployment %s applied (generation %d)\n", st.Name, st.Generation)
	if c.NoWait {
		return nil
	}
	return waitRollout(ctx, cl, st.Name, st.Generation, c.Timeout, stuckLimit(d))
}

// stuckLimit is how long a failing or crash-looping service may stay so
// before the wait gives up on it: long enough, for a service that rolls
// back by itself, to see the rollback its update.monitor leads to.
func stuckLimit(d *spec.Deployment) time.Duration {
	limit := 15 * time.Second
	for _, s := range d.Services {
		if _, _, _, monitor, action := s.Policy(); action == spec.FailureRollback {
			limit = max(limit, monitor+10*time.Second)
		}
	}
	return limit
}

// printPlan says what a dry run found: the services in start order.
func printPlan(w io.Writer, path string, d *spec.Deployment) {
	fmt.Fprintf(w, "%s: valid; deployment %s:\n", path, d.Deployment)
	for _, n := range d.StartOrder() {
		s := d.Services[n]
		var deps []string
		for _, dep := range s.Depends {
			deps = append(deps, fmt.Sprintf("%s (%s)", dep.Service, dep.Condition))
		}
		network := string(s.NetworkMode)
		if network == "" {
			network = "default (node decides)"
		}
		line := fmt.Sprintf("  %s: %s, %d replica(s), network %s", n, s.Image.Name, s.Scale.Count(), network)
		if len(deps) > 0 {
			line += ", after " + strings.Join(deps, ", ")
		}
		fmt.Fprintln(w, line)
	}
}

// watchWait is how long the next long poll may wait: until the deadline or
// the end of the stuck limit (a few milliseconds past either, so the
// answer after it finds the limit passed), and no more than 30 s, so a
// dropped connection is noticed.
func watchWait(deadline, stuckSince time.Time, stuckFor time.Duration) time.Duration {
	const slack = 10 * time.Millisecond
	wait := min(30*time.Second, time.Until(deadline)+slack)
	if !stuckSince.IsZero() {
		wait = min(wait, time.Until(stuckSince.Add(stuckFor))+slack)
	}
	return max(wait, slack)
}
