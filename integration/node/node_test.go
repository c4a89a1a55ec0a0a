// Tests of `zlayer serve` as a user runs it: the real binary, its own
// supervised containerd, runc (or our shim, ZLAYER_TEST_RUNTIME), images
// from the harness registry through a docker.io mirror in the node config.
package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

func appSpec(webPort int, msg string, workers int) string {
	return fmt.Sprintf(`version: v1
deployment: shop
services:
  web:
    image: busybox
    command:
      entrypoint: [/bin/httpd]
      args: [-f, -p, "127.0.0.1:%d", -h, /etc]
    endpoints:
      - {name: http, port: %d}
    health:
      interval: 500ms
      check: {type: http, port: %d, path: /passwd, expect_status: 200}
  worker:
    image: {name: busybox, pull_policy: if_not_present}
    command:
      entrypoint: [/bin/sh, -c]
      args: ['echo "started $ZLAYER_REPLICA $MSG"; trap "exit 0" TERM; i=0; while true; do sleep 0.2; i=$((i+1)); [ $((i%%5)) = 0 ] && echo tick $i; done']
    env: {MSG: %s}
    scale: {replicas: %d}
    health:
      interval: 500ms
      check: {type: command, command: "test -x /bin/sh"}
    depends:
      - {service: web, condition: healthy}
`, webPort, webPort, webPort, msg, workers)
}

// serveDay is the node a user's day is spent on, and what the day's steps
// hand on to the ones after them.
type serveDay struct {
	s    *stack.Stack
	n    *Node
	ctx  context.Context
	tcp  *apiclient.Client // the TLS API with the admin token
	port int               // web's host port
	spec string            // shop.yaml, the two-service deployment
	// before are shop's replicas before serve was killed; a containerd
	// restart must keep them too.
	before []apitypes.ReplicaStatus
}

// daySteps are the user's day, in order: each step builds on the node the
// steps before it left.
var daySteps = []scenario.Step[*serveDay]{
	nodeStep("empty node answers", testEmptyNodeAnswers),
	nodeStep("tcp needs the token", testTCPNeedsToken),
	nodeStep("invalid spec rejected with positions", testInvalidSpecRejected),
	nodeStep("two services gated on health", testDeployGatedOnHealth),
	nodeStep("logs", testServeLogs),
	nodeStep("exec", testServeExec),
	nodeStep("exec -it on a terminal", testServeExecTTY),
	nodeStep("exec client killed leaves no process", testServeExecClientKilled),
	nodeStep("exec -i streams over tcp", testServeExecStreamsOverTCP),
	nodeStep("scale", testServeScale),
	nodeStep("rolling update", testRollingUpdate),
	nodeStep("crash loop", testCrashLoop),
	nodeStep("kill -9 serve adopts", testKill9ServeAdopts),
	nodeStep("containerd restart reattaches", testContainerdRestartReattaches),
	nodeStep("image import with pull_policy never", testImageImportPullNever),
	nodeStep("metrics", testServeMetrics),
	nodeStep("stop signal and grace per service", testStopSettings),
	nodeStep("down removes everything", testDownRemovesEverything),
}

func (d *serveDay) node() *Node { return d.n }

// TestIntegrationNodeServe drives one node through a user's day: empty
// status, bad requests, a two-service deployment gated on health, logs,
// exec, scaling, a rolling update, a crash loop, kill -9 of serve and of
// containerd with adoption, image import with pull_policy never, metrics,
// and down.
func TestIntegrationNodeServe(t *testing.T) {
	s := stack.Start(t, stack.Options{Containerd: true})
	n := StartNode(t, s)
	scenario.Run(t, &serveDay{s: s, n: n, ctx: context.Background(), tcp: n.TCP(n.Token(false))}, daySteps)
}

func testEmptyNodeAnswers(t *testing.T, d *serveDay) {
	if out := d.n.MustCLI("status"); !strings.Contains(out, "no deployments") {
		t.Fatalf("status on an empty node: %q", out)
	}
}

// testTCPNeedsToken: TCP (TLS) needs the token; health does not.
func testTCPNeedsToken(t *testing.T, d *serveDay) {
	n := d.n
	tok := n.Token(false)
	for _, c := range []struct {
		path, token string
		want        int
	}{{"/v1/deployments", "", 401}, {"/v1/deployments", "wrong", 401}, {"/v1/deployments", tok, 200}, {"/health/live", "", 200}, {"/v1/deployments/nope", tok, 404}} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+n.Bind+c.path, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := n.HTTPS().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s (token %q): %d, want %d", c.path, c.token, resp.StatusCode, c.want)
		}
		if c.want >= 400 && (body["code"] == nil || body["message"] == nil) {
			t.Errorf("GET %s: error body without code and message: %v", c.path, body)
		}
	}
	resp, err := n.HTTPS().Post("https://"+n.Bind+"/v1/deployments/x/services/y/scale", "application/json", strings.NewReader("{"))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("scale without token: %d", resp.StatusCode)
		}
	}
	if _, err := d.tcp.Scale(d.ctx, "nope", "web", 2); !apiclient.IsNotFound(err) {
		t.Errorf("scale of an unknown deployment: %v", err)
	}
}

// testInvalidSpecRejected: an invalid spec is rejected with positions, all
// errors at once, and changes nothing.
func testInvalidSpecRejected(t *testing.T, d *serveDay) {
	n := d.n
	bad := n.WriteSpec("bad.yaml", "version: v1\ndeployment: shop\nservices:\n  web:\n    image: busybox\n    scale: {replicas: many}\n    restart_policy: {kind: sometimes}\n    colour: red\n")
	_, stderr, code := n.CLI("deploy", bad)
	if code == 0 {
		t.Fatal("invalid spec accepted")
	}
	for _, want := range []string{"bad.yaml:6:23: services.web.scale.replicas: must be an integer", "bad.yaml:7:28: services.web.restart_policy.kind: must be one of", "bad.yaml:8:5: services.web.colour: unknown key"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("deploy error lacks %q:\n%s", want, stderr)
		}
	}
	_, stderr, code = n.CLI("deploy", "--dry-run", "--host", "/nonexistent.sock", bad)
	if code == 0 || !strings.Contains(stderr, "bad.yaml:6:23") {
		t.Errorf("dry-run of a bad spec: %d %s", code, stderr)
	}
	if list, _ := n.API.List(d.ctx); len(list) != 0 {
		t.Fatalf("an invalid spec changed the node: %+v", list)
	}
	bridge := n.WriteSpec("bridge.yaml", "version: v1\ndeployment: br\nservices:\n  web:\n    image: busybox\n    network_mode: bridge\n")
	if _, stderr, code := n.CLI("deploy", bridge); code == 0 || !strings.Contains(stderr, "bridge networking is not available") {
		t.Errorf("bridge on a node without networking: %d %s", code, stderr)
	}
}

// testDeployGatedOnHealth: two services; the workers wait for web to be
// healthy.
func testDeployGatedOnHealth(t *testing.T, d *serveDay) {
	n := d.n
	d.port = FreePort(t)
	d.spec = n.WriteSpec("shop.yaml", appSpec(d.port, "one", 3))
	if out := n.MustCLI("deploy", "--dry-run", "--host", "/nonexistent.sock", d.spec); !strings.Contains(out, "valid") {
		t.Errorf("dry-run: %s", out)
	}
	start := time.Now()
	n.MustCLI("deploy", "--spec", d.spec, "--timeout", "90s")
	t.Logf("two services, 4 replicas ready in %s", time.Since(start).Round(time.Millisecond))
	st, err := n.API.Get(d.ctx, "shop")
	if err != nil || !st.Ready {
		t.Fatalf("not ready after deploy: %+v %v", st, err)
	}
	web := n.Replicas("shop", "web")
	workers := n.Replicas("shop", "worker")
	if len(web) != 1 || len(workers) != 3 {
		t.Fatalf("replicas: web %d workers %d", len(web), len(workers))
	}
	for _, w := range workers {
		if !w.StartedAt.After(web[0].StartedAt) || w.ImageDigest == "" || w.PID == 0 {
			t.Errorf("worker %d: started %s (web %s), digest %q, pid %d", w.Replica, w.StartedAt, web[0].StartedAt, w.ImageDigest, w.PID)
		}
	}
	if m, err := d.tcp.Raw(d.ctx, "/metrics"); err != nil || !strings.Contains(m, "zlayer_image_pull_duration_seconds_count 1") {
		t.Errorf("metrics after the first pull: %v\n%s", err, m)
	}
	if r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/passwd", d.port)); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("web on the host network: %v %v", r, err)
	}
}

// testServeLogs: logs through the CLI, from every replica, tail and one
// replica.
func testServeLogs(t *testing.T, d *serveDay) {
	n := d.n
	n.WaitFor("worker logs", 10*time.Second, func() bool {
		out, _, _ := n.CLI("logs", "worker")
		return strings.Contains(out, "worker-1 | started 1 one") && strings.Contains(out, "worker-2 | started 2 one") && strings.Contains(out, "worker-3 | started 3 one")
	})
	if out := n.MustCLI("logs", "shop/worker", "--replica", "2"); !strings.HasPrefix(out, "started 2 one\n") || strings.Contains(out, "started 1") {
		t.Errorf("logs --replica 2: %q", out)
	}
	if out := n.MustCLI("logs", "worker", "--replica", "1", "-n", "1"); strings.Count(out, "\n") != 1 {
		t.Errorf("logs -n 1: %q", out)
	}
	// -f streams lines as they are written.
	fctx, fcancel := context.WithTimeout(d.ctx, 3*time.Second)
	followed := 0
	_ = n.API.Logs(fctx, "shop", "worker", 0, true, 1, func(e apitypes.LogEntry) {
		if strings.HasPrefix(e.Log, "tick") {
			followed++
		}
	})
	fcancel()
	if followed < 1 {
		t.Error("logs -f delivered no new line in 3s")
	}
}

// testServeExec: exec runs in a replica and returns its exit code.
func testServeExec(t *testing.T, d *serveDay) {
	n := d.n
	out, _, code := n.CLI("exec", "worker", "--replica", "2", "--", "sh", "-c", "echo $ZLAYER_SERVICE $ZLAYER_REPLICA; exit 3")
	if code != 3 || strings.TrimSpace(out) != "worker 2" {
		t.Errorf("exec: code %d out %q", code, out)
	}

	if out, stderr, code := n.CLIIn("line one\nline two\n", "exec", "-i", "worker", "--", "sh", "-c", "tee /dev/stderr | wc -l"); code != 0 || strings.TrimSpace(out) != "2" || stderr != "line one\nline two\n" {
		t.Errorf("exec -i: code %d out %q err %q", code, out, stderr)
	}
}

// testServeScale: scale 3 -> 5 -> 1 -> 3.
func testServeScale(t *testing.T, d *serveDay) {
	n := d.n
	n.MustCLI("scale", "worker", "5")
	n.WaitFor("5 workers ready", 30*time.Second, func() bool { return n.Ready("shop") && len(n.Replicas("shop", "worker")) == 5 })
	n.MustCLI("scale", "worker", "1")
	n.WaitFor("1 worker", 30*time.Second, func() bool { return n.Ready("shop") && len(n.Replicas("shop", "worker")) == 1 })
	if w := n.Replicas("shop", "worker"); w[0].Replica != 1 {
		t.Errorf("scale down kept replica %d", w[0].Replica)
	}
	n.MustCLI("scale", "worker", "3")
	n.WaitFor("3 workers", 30*time.Second, func() bool { return n.Ready("shop") && len(n.Replicas("shop", "worker")) == 3 })
	if restarts := RestartsOf(n.Replicas("shop", "")); restarts != 0 {
		t.Errorf("%d restarts while scaling", restarts)
	}
}

// testRollingUpdate: an env change rolls the workers one at a time; web is
// untouched.
func testRollingUpdate(t *testing.T, d *serveDay) {
	n := d.n
	webPID := n.Replicas("shop", "web")[0].PID
	n.WriteSpec("shop.yaml", appSpec(d.port, "two", 3))
	n.MustCLI("deploy", d.spec, "--no-wait")
	firstSeen := map[int]time.Time{}
	maxNotReady, maxTotal := 0, 0
	n.WaitFor("rolling update", 60*time.Second, func() bool {
		rs := n.Replicas("shop", "worker")
		notReady := 0
		for _, r := range rs {
			if r.Current {
				if _, ok := firstSeen[r.Replica]; !ok {
					firstSeen[r.Replica] = time.Now()
				}
			}
			if r.State != reconcile.StateReady {
				notReady++
			}
		}
		maxNotReady, maxTotal = max(maxNotReady, notReady), max(maxTotal, len(rs))
		done := len(rs) == 3
		for _, r := range rs {
			done = done && r.Current && r.State == reconcile.StateReady
		}
		return done
	})
	if !(firstSeen[1].Before(firstSeen[2]) && firstSeen[2].Before(firstSeen[3])) {
		t.Errorf("replicas not rolled in order one by one: %v", firstSeen)
	}
	if maxTotal > 4 || maxNotReady > 2 {
		t.Errorf("rolling update had %d replicas at once, %d not ready (want <= 4 and <= 2)", maxTotal, maxNotReady)
	}
	if n.Replicas("shop", "web")[0].PID != webPID {
		t.Error("web was restarted by a worker-only change")
	}
	n.WaitFor("new env in logs", 10*time.Second, func() bool {
		out, _, _ := n.CLI("logs", "worker")
		return strings.Contains(out, "started 1 two") && strings.Contains(out, "started 3 two") && !strings.Contains(out, " one")
	})
}

// testCrashLoop: a command that exits 1 restarts with growing delays and
// shows crash_loop.
func testCrashLoop(t *testing.T, d *serveDay) {
	n := d.n
	crash := n.WriteSpec("crash.yaml", `version: v1
deployment: crashy
services:
  bad:
    image: busybox
    command: {entrypoint: [/bin/sh, -c, "echo boom; exit 1"]}
    restart_policy: {kind: on_failure, delay: 100ms}
`)
	n.MustCLI("deploy", crash, "--no-wait")
	// The node reports each wait ("restarting in 100ms", "next restart in
	// 400ms"); they must grow (timing exits instead would measure container
	// start times on a loaded machine).
	var waits []time.Duration
	n.WaitFor("crash loop", 30*time.Second, func() bool {
		rs := n.Replicas("crashy", "bad")
		if len(rs) == 1 {
			if i := strings.LastIndex(rs[0].Message, " in "); i >= 0 {
				if w, err := time.ParseDuration(rs[0].Message[i+4:]); err == nil && (len(waits) == 0 || waits[len(waits)-1] != w) {
					waits = append(waits, w)
				}
			}
		}
		return len(rs) == 1 && rs[0].State == reconcile.StateCrashLoop && rs[0].Restarts >= 3
	})
	cr := n.Replicas("crashy", "bad")[0]
	if cr.LastExit.Code != 1 {
		t.Errorf("last exit %+v", cr.LastExit)
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] <= waits[i-1] {
			t.Errorf("restart delays do not grow: %v", waits)
		}
	}
	if len(waits) < 2 {
		t.Errorf("saw too few restart delays: %v", waits)
	}
	if out := n.MustCLI("status"); !strings.Contains(out, "crash_loop") {
		t.Errorf("status does not show the crash loop:\n%s", out)
	}
	if out, _, _ := n.CLI("logs", "bad"); !strings.Contains(out, "boom") {
		t.Errorf("crash logs: %q", out)
	}
	n.MustCLI("down", "crashy")
}

// testKill9ServeAdopts: kill -9 serve, start it again: everything adopted,
// nothing restarted.
func testKill9ServeAdopts(t *testing.T, d *serveDay) {
	n := d.n
	d.before = n.Replicas("shop", "")
	oldCtd := n.ContainerdPID()
	n.Kill9()
	if oldCtd <= 1 || syscall.Kill(oldCtd, 0) != nil || Zombie(oldCtd) {
		t.Fatalf("containerd %d did not outlive a killed serve", oldCtd)
	}
	start := time.Now()
	n.Start()
	took := n.WaitFor("adopted and ready", 10*time.Second, func() bool { return n.Ready("shop") }) + time.Since(start)
	t.Logf("restart after kill -9 converged in %s", took.Round(time.Millisecond))
	after := n.Replicas("shop", "")
	if n.ContainerdPID() != oldCtd {
		t.Errorf("containerd was restarted (%d -> %d) instead of adopted", oldCtd, n.ContainerdPID())
	}
	if fmt.Sprint(PIDsOf(after)) != fmt.Sprint(PIDsOf(d.before)) || RestartsOf(after) != 0 {
		t.Errorf("replicas changed across kill -9 of serve:\nbefore %v\nafter  %v (restarts %d)", PIDsOf(d.before), PIDsOf(after), RestartsOf(after))
	}
}

// testContainerdRestartReattaches: containerd dies: serve restarts it,
// reattaches, and keeps reconciling.
func testContainerdRestartReattaches(t *testing.T, d *serveDay) {
	n := d.n
	ctdPID := n.ContainerdPID()
	if ctdPID <= 1 {
		t.Fatalf("no containerd pid recorded (%d)", ctdPID)
	}
	if err := syscall.Kill(ctdPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n.WaitFor("containerd restarted", 20*time.Second, func() bool {
		p := n.ContainerdPID()
		return p != 0 && p != ctdPID
	})
	n.WaitFor("reattached", 20*time.Second, func() bool {
		if !n.Ready("shop") {
			return false
		}
		_, err := n.API.Raw(d.ctx, "/health/ready")
		return err == nil
	})
	if got := n.Replicas("shop", ""); fmt.Sprint(PIDsOf(got)) != fmt.Sprint(PIDsOf(d.before)) {
		t.Errorf("replicas changed across a containerd restart:\nbefore %v\nafter  %v", PIDsOf(d.before), PIDsOf(got))
	}
	n.MustCLI("scale", "worker", "2")
	n.WaitFor("scale after containerd restart", 30*time.Second, func() bool { return n.Ready("shop") && len(n.Replicas("shop", "worker")) == 2 })
}

// testImageImportPullNever: an image imported from a tar runs with
// pull_policy never, and a missing one fails without a pull.
func testImageImportPullNever(t *testing.T, d *serveDay) {
	n := d.n
	tarPath := exportBusybox(t, d.s, "import.test/zl/box:v1")
	if out := n.MustCLI("image", "import", tarPath); !strings.Contains(out, "import.test/zl/box:v1") {
		t.Errorf("image import: %s", out)
	}
	imp := n.WriteSpec("imp.yaml", `version: v1
deployment: imported
services:
  box:
    image: {name: import.test/zl/box:v1, pull_policy: never}
    command: {entrypoint: [/bin/sh, -c, "echo from-import; sleep 3600"]}
`)
	n.MustCLI("deploy", imp, "--timeout", "30s")
	n.WaitFor("imported image log", 10*time.Second, func() bool {
		out, _, _ := n.CLI("logs", "box")
		return strings.Contains(out, "from-import")
	})
	never := n.WriteSpec("never.yaml", "version: v1\ndeployment: never\nservices:\n  x:\n    image: {name: not.here/x:v1, pull_policy: never}\n")
	n.MustCLI("deploy", never, "--no-wait")
	n.WaitFor("never-pull failure", 10*time.Second, func() bool {
		st, _ := n.API.Get(d.ctx, "never")
		return st != nil && len(st.Services) == 1 && st.Services[0].State == "failed" && strings.Contains(st.Services[0].Message, "pull_policy is never")
	})
}

func testServeMetrics(t *testing.T, d *serveDay) {
	m, err := d.tcp.Raw(d.ctx, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`zlayer_replicas{deployment="shop",service="worker",state="ready"} 2`, "zlayer_reconcile_duration_seconds_count", "zlayer_containerd_restarts 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}

func testDownRemovesEverything(t *testing.T, d *serveDay) {
	n := d.n
	for _, dep := range []string{"shop", "imported", "never"} {
		n.MustCLI("down", dep)
	}
	if rs, _ := n.API.Replicas(d.ctx); len(rs) != 0 {
		t.Errorf("replicas left after down: %+v", rs)
	}
	if _, _, code := n.CLI("down", "shop"); code == 0 {
		t.Error("down of an unknown deployment succeeded")
	}
	if out := n.MustCLI("status", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("status -o json after down: %s", out)
	}
}

// testStopSettings: a replica that ignores SIGTERM is stopped by its
// stop_signal, and one that takes 3s to finish after SIGTERM gets to
// finish under a stop_grace_period of 30s, where the node's --stop-timeout
// (2s here) would have killed it first. What each got is written to a
// bind-mounted folder, which outlives the replicas.
func testStopSettings(t *testing.T, d *serveDay) {
	n := d.n
	out := t.TempDir()
	// Each marks when its traps are set, so the test knows a stop now
	// reaches a trap.
	quitter := `trap "echo TERM >> /out/quitter" TERM; trap "echo QUIT >> /out/quitter; exit 0" QUIT; touch /out/quitter.up; while true; do sleep 0.1; done`
	slow := `trap "echo TERM >> /out/slow; sleep 3; echo DONE >> /out/slow; exit 0" TERM; touch /out/slow.up; while true; do sleep 0.1; done`
	sp := n.WriteSpec("stopper.yaml", fmt.Sprintf(`version: v1
deployment: stopper
services:
  quitter:
    image: busybox
    command: {entrypoint: [/bin/sh, -c], args: [%q]}
    storage: [{type: bind, source: %s, target: /out}]
    stop_signal: SIGQUIT
  slow:
    image: busybox
    command: {entrypoint: [/bin/sh, -c], args: [%q]}
    storage: [{type: bind, source: %s, target: /out}]
    stop_grace_period: 30s
`, quitter, out, slow, out))
	n.MustCLI("deploy", sp, "--no-wait")
	n.WaitFor("stoppers trapping", 60*time.Second, func() bool {
		_, e1 := os.Stat(filepath.Join(out, "quitter.up"))
		_, e2 := os.Stat(filepath.Join(out, "slow.up"))
		return e1 == nil && e2 == nil
	})
	n.MustCLI("down", "stopper")
	got := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(out, name))
		return strings.Join(strings.Fields(string(b)), " ")
	}
	if g := got("quitter"); g != "QUIT" {
		t.Errorf("quitter got %q, want QUIT only (its stop_signal)", g)
	}
	if g := got("slow"); g != "TERM DONE" {
		t.Errorf("slow got %q, want TERM DONE (finished within its stop_grace_period)", g)
	}
	if rs := n.Replicas("stopper", ""); len(rs) != 0 {
		t.Errorf("replicas left after down: %+v", rs)
	}
}

// exportBusybox pulls busybox into the harness containerd, names it ref and
// writes it as an image tar.
func exportBusybox(t *testing.T, s *stack.Stack, ref string) string {
	t.Helper()
	c := s.ContainerdClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = namespaced(ctx, s.Namespace)
	img, err := c.Pull(ctx, s.Registry+"/library/busybox:latest", withResolver(s))
	if err != nil {
		t.Fatal(err)
	}
	is := c.ImageService()
	meta := img.Metadata()
	meta.Name = ref
	if _, err := is.Create(ctx, meta); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Dir, "box.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := c.Export(ctx, f, exportImage(c, ref)); err != nil {
		t.Fatal(err)
	}
	return p
}
