package main

import (
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

func TestRolloutFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   apitypes.DeploymentStatus
		want string // "" for no failure
	}{
		{"none", apitypes.DeploymentStatus{Name: "shop", Generation: 4}, ""},
		{"paused", apitypes.DeploymentStatus{Name: "shop", Generation: 4, Rollout: &apitypes.RolloutStatus{State: apitypes.RolloutPaused, Message: "rollout paused: replica 1 of web was not ready"}},
			"deployment shop: rollout paused: replica 1 of web was not ready (deploy a fixed spec, or zlayer rollback shop)"},
		{"auto rollback of ours", apitypes.DeploymentStatus{Name: "shop", Generation: 5, Rollout: &apitypes.RolloutStatus{State: apitypes.RolloutRolledBack, From: 4, To: 3, Auto: true, Message: "rolled back from generation 4 to the spec of generation 3: replica 1 of web was not ready"}},
			"deployment shop: the rollout of generation 4 failed and was rolled back from generation 4 to the spec of generation 3: replica 1 of web was not ready"},
		{"requested rollback of ours", apitypes.DeploymentStatus{Name: "shop", Generation: 5, Rollout: &apitypes.RolloutStatus{State: apitypes.RolloutRolledBack, From: 4, To: 3, Message: "rolled back from generation 4 to the spec of generation 3: requested"}},
			"deployment shop: generation 4 was rolled back from generation 4 to the spec of generation 3: requested (zlayer rollback)"},
		// The rollback a rollback command made is its own generation: it
		// succeeded.
		{"our own rollback", apitypes.DeploymentStatus{Name: "shop", Generation: 4, Rollout: &apitypes.RolloutStatus{State: apitypes.RolloutRolledBack, From: 3, To: 1}}, ""},
		{"an older rollback", apitypes.DeploymentStatus{Name: "shop", Generation: 6, Rollout: &apitypes.RolloutStatus{State: apitypes.RolloutRolledBack, From: 3, To: 1, Auto: true}}, ""},
	} {
		gen := int64(4)
		err := rolloutFailed(&tc.st, gen)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A deploy waiting on a service that rolls back by itself waits past the
// monitor window, so it reports the rollback rather than "not converging".
func TestStuckLimitCoversTheMonitor(t *testing.T) {
	d, err := spec.Parse("s.yaml", []byte("version: v1\ndeployment: s\nservices:\n  a:\n    image: busybox\n    update: {failure_action: rollback, monitor: 1m}\n  b:\n    image: busybox\n    update: {monitor: 5m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := stuckLimit(d); got != 70*time.Second {
		t.Errorf("stuck limit %s, want 1m10s", got)
	}
	delete(d.Services, "a")
	if got := stuckLimit(d); got != 15*time.Second {
		t.Errorf("stuck limit without rollback %s, want 15s", got)
	}
}

func TestRolloutCommandsHaveExamplesAndCompletion(t *testing.T) {
	for name, h := range map[string]interface{ Help() string }{
		"history": &HistoryCmd{}, "rollback": &RollbackCmd{}, "restart": &RestartCmd{}, "deploy": &DeployCmd{},
	} {
		if !strings.Contains(h.Help(), "Examples:\n  zlayer "+name) {
			t.Errorf("%s --help has no example:\n%s", name, h.Help())
		}
	}
	parser, err := kong.New(&fullCLI{}, kong.Name("zlayer"))
	if err != nil {
		t.Fatal(err)
	}
	tree := map[string][]string{}
	collectWords(parser.Model.Node, "", tree)
	root := strings.Join(tree[""], " ")
	for _, w := range []string{"history", "rollback", "restart"} {
		if !strings.Contains(" "+root+" ", " "+w+" ") {
			t.Errorf("completion lacks %s: %s", w, root)
		}
	}
	for path, flag := range map[string]string{"history": "--output", "rollback": "--to", "restart": "--deployment", "deploy": "--wait"} {
		if !strings.Contains(strings.Join(tree[path], " "), flag) {
			t.Errorf("completion of %s lacks %s: %v", path, flag, tree[path])
		}
	}
}
