package apiclient

import (
	"context"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

func TestRolloutCallsAgainstTheServer(t *testing.T) {
	c := serverClient(t)
	ctx := context.Background()
	for _, img := range []string{"busybox:1", "busybox:2"} {
		if _, err := c.Apply(ctx, "shop.yaml", "version: v1\ndeployment: shop\nservices:\n  web:\n    image: "+img+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.Restart(ctx, "shop", "web"); err != nil || got.Generation != 3 {
		t.Fatalf("restart: %+v %v", got, err)
	}
	got, err := c.Rollback(ctx, "shop", 1)
	if err != nil || got.Generation != 4 || got.Rollout == nil || got.Rollout.State != apitypes.RolloutRolledBack || got.Rollout.To != 1 || got.Rollout.Auto {
		t.Fatalf("rollback: %+v %v", got, err)
	}
	h, err := c.History(ctx, "shop")
	if err != nil || len(h) != 4 {
		t.Fatalf("history: %+v %v", h, err)
	}
	causes := []apitypes.GenerationCause{apitypes.CauseDeploy, apitypes.CauseDeploy, apitypes.CauseRestart, apitypes.CauseRollback}
	for i, g := range h {
		if g.Cause != causes[i] || g.Generation != int64(i+1) || g.By != "token:admin" || g.Current != (i == 3) {
			t.Errorf("generation %d: %+v", i+1, g)
		}
	}
	if h[3].SpecHash != h[0].SpecHash {
		t.Errorf("rolled back to generation 1 but the hash is %s, not %s", h[3].SpecHash, h[0].SpecHash)
	}
	if _, err := c.History(ctx, "nope"); !IsNotFound(err) {
		t.Errorf("history of an unknown deployment: %v", err)
	}
}
