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
	NoWait  bool          `name:"no-wait" help:"Return once the node accepted the spec, without waiting for readiness."`
	Timeout time.Duration `default:"5m" help:"How long to wait for the deployment to be ready."`
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
	deadline := time.Now().Add(c.Timeout)
	last := ""
	// A service failing or crash-looping for this long ends the wait: the
	// node keeps retrying, but the user should hear about it now.
	const stuckFor = 15 * time.Second
	var stuckSince time.Time
	// The first answer is immediate; each next one waits on the node for a
	// change past the version of the one before (a long poll), but no
	// longer than the deadline or the stuck limit, which are judged here.
	var since uint64
	var wait time.Duration
	for {
		st, version, err := cl.Watch(ctx, d.Deployment, since, wait)
		if err != nil {
			return err
		}
		if st.Ready {
			printServices(os.Stdout, st.Services)
			return nil
		}
		var parts []string
		for _, s := range st.Services {
			p := fmt.Sprintf("%s %d/%d %s", s.Name, s.Ready, s.Desired, s.State)
			if s.Message != "" {
				p += " (" + s.Message + ")"
			}
			parts = append(parts, p)
		}
		if line := strings.Join(parts, ", "); line != last {
			fmt.Fprintln(os.Stderr, "waiting:", line)
			last = line
		}
		stuck := false
		for _, s := range st.Services {
			stuck = stuck || s.State.Stuck()
		}
		switch {
		case !stuck:
			stuckSince = time.Time{}
		case stuckSince.IsZero():
			stuckSince = time.Now()
		case time.Since(stuckSince) > stuckFor:
			printServices(os.Stdout, st.Services)
			return exitError{code: 1, err: fmt.Errorf("deployment %s is not converging (see the messages above; the node keeps retrying)", d.Deployment)}
		}
		if time.Now().After(deadline) {
			printServices(os.Stdout, st.Services)
			return exitError{code: 1, err: fmt.Errorf("deployment %s not ready after %s", d.Deployment, c.Timeout)}
		}
		since, wait = version, watchWait(deadline, stuckSince, stuckFor)
		if version == 0 {
			// A node that does not watch answers at once: ask again
			// after a pause rather than in a busy loop.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
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
