package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apiclient"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// waitRollout follows deployment name from generation gen until it is
// ready, its rollout failed (paused, or rolled back past gen), a service
// stays failing for stuckFor, or timeout passes; each failure is an exit
// code 1 with what the node says.
func waitRollout(ctx context.Context, cl *apiclient.Client, name string, gen int64, timeout, stuckFor time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	// A service failing or crash-looping for stuckFor ends the wait: the
	// node keeps retrying, but the user should hear about it now.
	var stuckSince time.Time
	// The first answer is immediate; each next one waits on the node for a
	// change past the version of the one before (a long poll), but no
	// longer than the deadline or the stuck limit, which are judged here.
	var since uint64
	var wait time.Duration
	for {
		st, version, err := cl.Watch(ctx, name, since, wait)
		if err != nil {
			return err
		}
		if err := rolloutFailed(st, gen); err != nil {
			printServices(os.Stdout, st.Services)
			return exitError{code: 1, err: err}
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
			return exitError{code: 1, err: fmt.Errorf("deployment %s is not converging (see the messages above; the node keeps retrying)", name)}
		}
		if time.Now().After(deadline) {
			printServices(os.Stdout, st.Services)
			return exitError{code: 1, err: fmt.Errorf("deployment %s not ready after %s", name, timeout)}
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

// rolloutFailed says whether st shows the rollout of generation gen
// failed: paused at gen, or rolled back from gen (or later).
func rolloutFailed(st *apitypes.DeploymentStatus, gen int64) error {
	r := st.Rollout
	switch {
	case r == nil:
		return nil
	case r.State == apitypes.RolloutPaused && st.Generation == gen:
		return fmt.Errorf("deployment %s: %s (deploy a fixed spec, or zlayer rollback %s)", st.Name, r.Message, st.Name)
	case r.State == apitypes.RolloutRolledBack && r.From >= gen && st.Generation > gen && r.Auto:
		return fmt.Errorf("deployment %s: the rollout of generation %d failed and was %s", st.Name, gen, r.Message)
	case r.State == apitypes.RolloutRolledBack && r.From >= gen && st.Generation > gen:
		return fmt.Errorf("deployment %s: generation %d was %s (zlayer rollback)", st.Name, gen, r.Message)
	}
	return nil
}

// waitFlags are the wait of a command that starts a rollout.
type waitFlags struct {
	NoWait  bool          `name:"no-wait" help:"Return once the node accepted the change, without waiting for the rollout."`
	Timeout time.Duration `default:"5m" help:"How long to wait for the rollout to be done."`
}

func (w waitFlags) wait(ctx context.Context, cl *apiclient.Client, st *apitypes.DeploymentStatus) error {
	if w.NoWait {
		return nil
	}
	return waitRollout(ctx, cl, st.Name, st.Generation, w.Timeout, 15*time.Second)
}
