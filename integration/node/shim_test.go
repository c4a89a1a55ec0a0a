package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

// TestIntegrationNodeZLayerShim runs the node on its default runtime, our
// shim: logs come from the shim's JSON-lines files, exits from its exit
// records, and a kill -9 of serve is survived without restarts.
func TestIntegrationNodeZLayerShim(t *testing.T) {
	s := stack.Start(t, stack.Options{Containerd: true})
	n := StartNodeWith(t, s, reconcile.RuntimeZLayer)
	ctx := context.Background()

	spec := n.WriteSpec("shim.yaml", `version: v1
deployment: shimmed
services:
  talker:
    image: busybox
    command: {entrypoint: [/bin/sh, -c, 'echo "hello from $ZLAYER_REPLICA"; echo "to stderr" >&2; trap "exit 0" TERM; while true; do sleep 0.2; done']}
    scale: {replicas: 2}
  quitter:
    image: busybox
    command: {entrypoint: [/bin/sh, -c, "echo bye; exit 7"]}
    restart_policy: {kind: on_failure, max_attempts: 2, delay: 100ms}
`)
	n.MustCLI("deploy", spec, "--no-wait")
	n.WaitFor("talkers ready", 60*time.Second, func() bool {
		st, err := n.API.Get(ctx, "shimmed")
		return err == nil && len(st.Services) == 2 && st.Services[0].State == "ready"
	})
	// serve links containerd's shim to the lean build beside zlayer, which
	// reports zlayer's version, rather than to zlayer's own face.
	link, err := filepath.EvalSymlinks(filepath.Join(n.Dir, "bin", "containerd-shim-zlayer-v1"))
	if lean, _ := filepath.EvalSymlinks(filepath.Join(s.BinDir, "containerd-shim-zlayer-v1")); err != nil || link != lean {
		t.Errorf("serve's shim link leads to %q (%v), want %s", link, err, lean)
	}
	n.WaitFor("shim logs", 10*time.Second, func() bool {
		out, _, _ := n.CLI("logs", "talker")
		return strings.Contains(out, "talker-1 | hello from 1") && strings.Contains(out, "talker-2 | hello from 2") && strings.Contains(out, "to stderr")
	})
	// The shim wrote the log as JSON lines where the node reads it.
	id := n.Replicas("shimmed", "talker")[0].ID
	b, err := os.ReadFile(filepath.Join(n.Dir, "containers", "logs", n.NS, id+".log"))
	if err != nil || !strings.HasPrefix(string(b), "{") || !strings.Contains(string(b), `"stream"`) {
		t.Errorf("shim log %s: %v %.200q", id, err, b)
	}
	// on_failure with max_attempts 2: three runs, then it stays exited with
	// the shim's exit record behind its last exit.
	n.WaitFor("quitter gives up", 30*time.Second, func() bool {
		rs := n.Replicas("shimmed", "quitter")
		return len(rs) == 1 && rs[0].State == reconcile.StateExited && rs[0].Restarts == 2
	})
	q := n.Replicas("shimmed", "quitter")[0]
	if q.LastExit == nil || q.LastExit.Code != 7 {
		t.Errorf("quitter last exit %+v", q.LastExit)
	}
	if _, err := os.Stat(filepath.Join(n.Dir, "containers", "exits", n.NS, q.ID+".json")); err != nil {
		t.Errorf("no exit record from the shim: %v", err)
	}

	before := n.Replicas("shimmed", "talker")
	n.Kill9()
	n.Start()
	n.WaitFor("adopted", 10*time.Second, func() bool {
		rs := n.Replicas("shimmed", "talker")
		return len(rs) == 2 && rs[0].State == reconcile.StateReady && rs[1].State == reconcile.StateReady
	})
	after := n.Replicas("shimmed", "")
	if got, want := PIDsOf(n.Replicas("shimmed", "talker")), PIDsOf(before); len(got) != 2 || got[before[0].ID] != want[before[0].ID] || got[before[1].ID] != want[before[1].ID] {
		t.Errorf("talkers restarted across kill -9: %v -> %v", want, got)
	}
	for _, r := range after {
		if r.Service == "quitter" && (r.State != reconcile.StateExited || r.Restarts != 2 || r.LastExit == nil || r.LastExit.Code != 7) {
			t.Errorf("quitter after adoption: %+v", r)
		}
	}
	n.MustCLI("down", "shimmed")
	if rs, _ := n.API.Replicas(ctx); len(rs) != 0 {
		t.Errorf("left after down: %+v", rs)
	}
}
