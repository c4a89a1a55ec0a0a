package reconcile

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/runs"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// These drive the controller's side of runs on a manual clock, without
// containerd: the creations runService hands back are not run, and the
// tests move the runs' replicas as their containers would.

// runsFixture is a controller keeping its runs in dir (a new folder when
// empty) on a manual clock.
func runsFixture(t *testing.T, dir string) (*Controller, *runs.Book, *runs.Manual) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	book, err := runs.OpenBook(dir)
	if err != nil {
		t.Fatal(err)
	}
	clock := runs.NewManual(time.Date(2026, 5, 6, 7, 8, 30, 0, time.UTC))
	c := New(Options{Runs: book, Clock: clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return c, book, clock
}

func parseRuns(t *testing.T, doc string) *spec.Deployment {
	t.Helper()
	d, err := spec.Parse("r.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// exit makes the replica of run n of dep/svc exit with code.
func exit(c *Controller, dep, svc string, n, code int) {
	for _, r := range c.serviceReplicas(dep, svc) {
		if r.Index == n {
			c.mu.Lock()
			r.LastExit = &ExitInfo{Code: code, At: time.Now()}
			r.State = StateExited
			c.mu.Unlock()
		}
	}
}

func history(t *testing.T, b *runs.Book, dep, svc string) runs.History {
	t.Helper()
	h, err := b.Read(dep, svc)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCronOnManualClockForbidSkips(t *testing.T) {
	c, book, clock := runsFixture(t, "")
	d := parseRuns(t, "version: v1\ndeployment: d\nservices:\n  tick:\n    rtype: cron\n    image: busybox\n    schedule: '* * * * *'\n")
	ctx := context.Background()
	pass := func() int {
		t.Helper()
		fns, err := c.runService(ctx, d, "tick")
		if err != nil {
			t.Fatal(err)
		}
		return len(fns)
	}
	if n := pass(); n != 0 || len(history(t, book, "d", "tick").Runs) != 0 {
		t.Fatalf("a run before the first tick: %d", n)
	}
	if want := time.Date(2026, 5, 6, 7, 9, 0, 0, time.UTC); !c.nextTick("d", "tick").Equal(want) {
		t.Fatalf("next tick %s, want %s", c.nextTick("d", "tick"), want)
	}
	// The armed wake-up fires on the manual clock's minute.
	select {
	case <-c.trigger:
	default:
	}
	clock.Advance(29 * time.Second)
	select {
	case <-c.trigger:
		t.Error("woken before the tick")
	default:
	}
	clock.Advance(time.Second)
	select {
	case <-c.trigger:
	default:
		t.Error("the tick did not wake the loop")
	}
	if n := pass(); n != 1 {
		t.Fatalf("the first tick made %d creations", n)
	}
	h := history(t, book, "d", "tick")
	if len(h.Runs) != 1 || h.Runs[0].State != runs.Running || h.Runs[0].Trigger != runs.TriggerSchedule {
		t.Fatalf("after the first tick: %+v", h.Runs)
	}
	// Still running at the next tick: forbid skips it.
	clock.Advance(time.Minute)
	if n := pass(); n != 0 {
		t.Fatalf("forbid made %d creations", n)
	}
	h = history(t, book, "d", "tick")
	if len(h.Runs) != 2 || h.Runs[1].State != runs.Skipped || h.Runs[1].N != 2 {
		t.Fatalf("after an overlapping tick: %+v", h.Runs)
	}
	exit(c, "d", "tick", 1, 0)
	pass()
	if h = history(t, book, "d", "tick"); h.Runs[0].State != runs.Succeeded || *h.Runs[0].ExitCode != 0 {
		t.Fatalf("run 1 after its exit: %+v", h.Runs[0])
	}
	clock.Advance(time.Minute)
	if n := pass(); n != 1 {
		t.Fatalf("the third tick made %d creations", n)
	}
	exit(c, "d", "tick", 3, 2)
	pass()
	h = history(t, book, "d", "tick")
	if r := h.Get(3); r == nil || r.State != runs.Failed || *r.ExitCode != 2 || r.Message != "exited with code 2" {
		t.Fatalf("run 3: %+v", r)
	}
}

// TestJobEndedIsNotRerun: a job's run is recorded once; a new node
// process that finds the run's replica about to be restarted (its task
// lost in a reboot) leaves it exited, and starts no other run.
func TestJobEndedIsNotRerun(t *testing.T) {
	dir := t.TempDir()
	c, book, _ := runsFixture(t, dir)
	d := parseRuns(t, "version: v1\ndeployment: d\nservices:\n  migrate:\n    rtype: job\n    image: busybox\n")
	ctx := context.Background()
	if fns, _ := c.runService(ctx, d, "migrate"); len(fns) != 1 {
		t.Fatalf("a job's first pass made %d creations", len(fns))
	}
	if fns, _ := c.runService(ctx, d, "migrate"); len(fns) != 0 {
		t.Fatalf("a job's second pass made %d creations", len(fns))
	}
	exit(c, "d", "migrate", 1, 0)
	_, _ = c.runService(ctx, d, "migrate")
	if h := history(t, book, "d", "migrate"); len(h.Runs) != 1 || h.Runs[0].State != runs.Succeeded {
		t.Fatalf("after the exit: %+v", h.Runs)
	}

	c2, book2, _ := runsFixture(t, dir)
	s := d.Services["migrate"]
	r := &Replica{ID: ContainerID("d", "migrate", 1, s.Hash()), Deployment: "d", Service: "migrate", Index: 1, Hash: s.Hash(), spec: s,
		State: StateRestart, LastExit: &ExitInfo{Code: -1}}
	c2.replicas[r.ID] = r
	if fns, _ := c2.runService(ctx, d, "migrate"); len(fns) != 0 {
		t.Fatalf("a new node process made %d creations", len(fns))
	}
	if r.State != StateExited || !r.noRestart || r.LastExit.Code != 0 {
		t.Fatalf("the ended run's replica: %s, no restart %v, exit %+v", r.State, r.noRestart, r.LastExit)
	}
	if h := history(t, book2, "d", "migrate"); len(h.Runs) != 1 || h.Runs[0].State != runs.Succeeded {
		t.Fatalf("history after the restart: %+v", h.Runs)
	}
	// A dependency on the job is met.
	dd := parseRuns(t, "version: v1\ndeployment: d\nservices:\n  migrate:\n    rtype: job\n    image: busybox\n  web:\n    image: busybox\n    depends: [{service: migrate}]\n")
	if ok, why := c2.depsSatisfied(dd, dd.Services["web"]); !ok {
		t.Fatalf("depends on a succeeded job: %s", why)
	}
}

// TestJobDependencyWaits: a service depending on a job waits for its run
// to succeed, saying which run it waits for.
func TestJobDependencyWaits(t *testing.T) {
	c, _, _ := runsFixture(t, "")
	d := parseRuns(t, "version: v1\ndeployment: d\nservices:\n  migrate:\n    rtype: job\n    image: busybox\n  web:\n    image: busybox\n    depends: [{service: migrate, condition: completed}]\n")
	if ok, why := c.depsSatisfied(d, d.Services["web"]); ok || why != "waiting for migrate to run" {
		t.Fatalf("before any run: %v %q", ok, why)
	}
	_, _ = c.runService(context.Background(), d, "migrate")
	if ok, why := c.depsSatisfied(d, d.Services["web"]); ok || why != "waiting for migrate to complete (run 1 running)" {
		t.Fatalf("while it runs: %v %q", ok, why)
	}
	exit(c, "d", "migrate", 1, 3)
	_, _ = c.runService(context.Background(), d, "migrate")
	if ok, why := c.depsSatisfied(d, d.Services["web"]); ok || why != "waiting for migrate to complete: run 1 failed (exited with code 3)" {
		t.Fatalf("after it failed: %v %q", ok, why)
	}
}

// TestRunThatCannotStartFails: a run whose container cannot be made is
// retried as its restart policy says, then failed, freeing the schedule.
func TestRunThatCannotStartFails(t *testing.T) {
	c, book, _ := runsFixture(t, "")
	d := parseRuns(t, "version: v1\ndeployment: d\nservices:\n  migrate:\n    rtype: job\n    image: busybox\n    restart_policy: {kind: on_failure, max_attempts: 2}\n")
	ctx := context.Background()
	_, _ = c.runService(ctx, d, "migrate")
	r := c.serviceReplicas("d", "migrate")[0]
	fail := func(n int) {
		c.mu.Lock()
		r.State, r.Message, r.consecutive, r.nextRestart = StateFailed, "pull: no such image", n, time.Now().Add(time.Hour)
		c.mu.Unlock()
		_, _ = c.runService(ctx, d, "migrate")
	}
	fail(1)
	if h := history(t, book, "d", "migrate"); h.Runs[0].State != runs.Running {
		t.Fatalf("after one failed create: %+v", h.Runs[0])
	}
	fail(2)
	h := history(t, book, "d", "migrate")
	if h.Runs[0].State != runs.Failed || h.Runs[0].Message != "could not start after 2 attempts: pull: no such image" {
		t.Fatalf("after two failed creates: %+v", h.Runs[0])
	}
}

func TestSummarizeRuns(t *testing.T) {
	job := &spec.Service{Rtype: spec.RtypeJob}
	cron := &spec.Service{Rtype: spec.RtypeCron}
	for _, tc := range []struct {
		name  string
		s     *spec.Service
		reps  []ReplicaStatus
		msg   string
		state string
		ready int
		text  string
	}{
		{"job waiting", job, nil, "waiting for db to be healthy (0/1)", "waiting", 0, "waiting for db to be healthy (0/1)"},
		{"job running", job, []ReplicaStatus{{Replica: 1, Current: true, State: StateRunning}}, "", "progressing", 0, ""},
		{"job retried", job, []ReplicaStatus{{Replica: 1, Current: true, State: StateCrashLoop}}, "", "progressing", 0, ""},
		{"job done", job, []ReplicaStatus{{Replica: 1, Current: true, State: StateExited, LastExit: &ExitInfo{Code: 0}}}, "", "ready", 1, ""},
		{"job failed", job, []ReplicaStatus{{Replica: 1, Current: true, State: StateExited, LastExit: &ExitInfo{Code: 4}, Message: "gave up after 3 restarts"}}, "", "failed", 0, "run 1 failed: exit code 4 (gave up after 3 restarts)"},
		{"job's old run", job, []ReplicaStatus{{Replica: 1, State: StateExited, LastExit: &ExitInfo{Code: 0}}}, "", "progressing", 0, ""},
		{"cron scheduled", cron, nil, "", "ready", 1, ""},
		{"cron's last failed", cron, []ReplicaStatus{{Replica: 1, State: StateExited, LastExit: &ExitInfo{Code: 0}}, {Replica: 2, State: StateExited, LastExit: &ExitInfo{Code: 1}}}, "", "ready", 1, "last run 2 failed: exit code 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := ServiceStatus{Desired: 1, Replicas: tc.reps}
			summarizeRuns(tc.s, &ss, tc.msg)
			if string(ss.State) != tc.state || ss.Ready != tc.ready || ss.Message != tc.text {
				t.Fatalf("state %s ready %d message %q", ss.State, ss.Ready, ss.Message)
			}
		})
	}
}

// jobElsewhere places the job on another node, with the servers' count
// of its runs there.
type jobElsewhere map[string]int

func (jobElsewhere) Owner(string, string, int) Owner { return OwnerElsewhere }
func (j jobElsewhere) ReadyElsewhere(dep, svc, hash string) int {
	return j[dep+"/"+svc+"/"+hash]
}

// TestJobDependencyElsewhere: a service waits for a job another node of
// the cluster runs by the servers' count of its runs there: started for
// started, succeeded on the job's current spec for completed.
func TestJobDependencyElsewhere(t *testing.T) {
	c, _, _ := runsFixture(t, "")
	d := parseRuns(t, "version: v1\ndeployment: d\nservices:\n  migrate:\n    rtype: job\n    image: busybox\n  web:\n    image: busybox\n    depends: [{service: migrate, condition: completed}]\n  early:\n    image: busybox\n    depends: [{service: migrate, condition: started}]\n")
	hash := d.Services["migrate"].Hash()
	p := jobElsewhere{}
	c.o.Placement = p
	if ok, why := c.depsSatisfied(d, d.Services["web"]); ok || why != "waiting for migrate to complete (on another node)" {
		t.Fatalf("before any run: %v %q", ok, why)
	}
	p["d/migrate/"+RunDoneKey(true, hash)] = 1
	p["d/migrate/"+RunDoneKey(false, "old")] = 1
	if ok, _ := c.depsSatisfied(d, d.Services["early"]); !ok {
		t.Error("started: not met by a run started elsewhere")
	}
	if ok, _ := c.depsSatisfied(d, d.Services["web"]); ok {
		t.Error("completed: met by a success of another spec")
	}
	p["d/migrate/"+RunDoneKey(false, hash)] = 1
	if ok, why := c.depsSatisfied(d, d.Services["web"]); !ok {
		t.Errorf("completed after a success elsewhere: %q", why)
	}
}
