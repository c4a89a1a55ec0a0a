// Package shim_test drives containerd-shim-zlayer-v1 through a real
// containerd with runc, as the node does: containers created through the
// containerd Go client with runtime io.containerd.zlayer.v1 and busybox from
// the harness registry.
package shim_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"

	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/shim/contract"
	"github.com/zlayer/zlayer/shim/exitrecord"
	"github.com/zlayer/zlayer/shim/logfile"
)

// env is one stack shared by the cases: starting registry, buildkitd (to
// seed busybox) and containerd costs more than the cases themselves.
type env struct {
	s      *stack.Stack
	client *containerd.Client
	image  containerd.Image
	ctx    context.Context
}

func TestIntegrationShim(t *testing.T) {
	s := stack.Start(t, stack.Options{Containerd: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := &env{s: s, ctx: ctx}
	e.connect(t)
	img, err := e.client.Pull(e.nsctx(), s.Registry+"/library/busybox:latest",
		containerd.WithPullUnpack, containerd.WithResolver(s.Resolver()))
	if err != nil {
		t.Fatalf("pull busybox: %v", err)
	}
	e.image = img

	t.Run("VersionAndInfo", e.testVersionAndInfo)
	t.Run("LogsAndExitRecord", e.testLogsAndExitRecord)
	t.Run("Rotation", e.testRotation)
	t.Run("ExplicitStdio", e.testExplicitStdio)
	t.Run("Grouping", e.testGrouping)
	t.Run("OOMKilled", e.testOOMKilled)
	t.Run("BadAnnotation", e.testBadAnnotation)
	t.Run("MultiCallFace", e.testMultiCallFace)
	t.Run("LoggerUnderRunc", e.testLoggerUnderRunc)
	// Last: it kills and restarts containerd.
	t.Run("ContainerdKilled", e.testContainerdKilled)
}

func (e *env) connect(t *testing.T) {
	t.Helper()
	c, err := containerd.New(e.s.ContainerdAddr, containerd.WithDefaultNamespace(e.s.Namespace))
	if err != nil {
		t.Fatalf("containerd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	e.client = c
}

func (e *env) nsctx() context.Context { return e.ctx }

// run creates a container on our runtime (without stdio unless ioc says
// otherwise) and starts its task; the container is removed at test end.
func (e *env) run(t *testing.T, id string, annotations map[string]string, script string, ioc cio.Creator, opts ...oci.SpecOpts) (containerd.Container, containerd.Task, <-chan containerd.ExitStatus) {
	t.Helper()
	return e.runOn(t, contract.Runtime, id, annotations, script, ioc, opts...)
}

// runOn is run on the given containerd runtime: a name, or a shim's path.
func (e *env) runOn(t *testing.T, runtime, id string, annotations map[string]string, script string, ioc cio.Creator, opts ...oci.SpecOpts) (containerd.Container, containerd.Task, <-chan containerd.ExitStatus) {
	t.Helper()
	specOpts := append([]oci.SpecOpts{
		oci.WithImageConfig(e.image),
		oci.WithProcessArgs("sh", "-c", script),
		oci.WithAnnotations(annotations),
	}, opts...)
	c, err := e.client.NewContainer(e.ctx, id,
		containerd.WithNewSnapshot(id+"-snap", e.image),
		containerd.WithNewSpec(specOpts...),
		containerd.WithRuntime(runtime, &options.Options{Root: e.s.RuncRoot}),
	)
	if err != nil {
		t.Fatalf("create container %s: %v", id, err)
	}
	t.Cleanup(func() { e.remove(c) })
	if ioc == nil {
		ioc = cio.NullIO
	}
	task, err := c.NewTask(e.ctx, ioc)
	if err != nil {
		t.Fatalf("create task %s: %v", id, err)
	}
	exitC, err := task.Wait(e.ctx)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	if err := task.Start(e.ctx); err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return c, task, exitC
}

func (e *env) remove(c containerd.Container) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = namespaces.WithNamespace(ctx, e.s.Namespace)
	if task, err := c.Task(ctx, nil); err == nil {
		_, _ = stack.KillTask(ctx, task)
	}
	_ = c.Delete(ctx, containerd.WithSnapshotCleanup)
}

func (e *env) logPath(id string) string {
	return contract.LogPath(e.s.StateDir, e.s.Namespace, id)
}

func (e *env) exitPath(id string) string {
	return contract.ExitPath(e.s.StateDir, e.s.Namespace, id)
}

func waitExit(t *testing.T, exitC <-chan containerd.ExitStatus, limit time.Duration) containerd.ExitStatus {
	t.Helper()
	select {
	case st := <-exitC:
		return st
	case <-time.After(limit):
		t.Fatalf("task did not exit within %v", limit)
	}
	return containerd.ExitStatus{}
}

func readLog(t *testing.T, path string) []logfile.Record {
	t.Helper()
	var recs []logfile.Record
	if err := logfile.Read(path, func(r logfile.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatalf("read log: %v", err)
	}
	return recs
}

// The shim (the lean build, installed as make build does) answers -v and
// -info as containerd expects, and the multi-call binary still works.
func (e *env) testVersionAndInfo(t *testing.T) {
	bin := filepath.Join(e.s.BinDir, "containerd-shim-zlayer-v1")
	if fi, err := os.Lstat(bin); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s is not the lean build (a file of its own): %v", bin, err)
	}
	out, err := exec.Command(bin, "-v").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "containerd-shim-zlayer-v1:") || !strings.Contains(string(out), "Version:") {
		t.Errorf("-v: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-info")
	cmd.Stdin = strings.NewReader("")
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("-info: %v", err)
	}
	var info types.RuntimeInfo
	if err := proto.Unmarshal(raw, &info); err != nil {
		t.Fatalf("-info output is not a RuntimeInfo: %v", err)
	}
	if info.GetName() != contract.Runtime || info.GetFeatures() == nil {
		t.Errorf("-info: name %q, features %v", info.GetName(), info.GetFeatures() != nil)
	}
	if out, err := exec.Command(filepath.Join(e.s.BinDir, "zlayer"), "--help").CombinedOutput(); err != nil {
		t.Errorf("zlayer --help broke: %v\n%s", err, out)
	}
}

func (e *env) testLogsAndExitRecord(t *testing.T) {
	start := time.Now()
	id := "logs-exit"
	// containerd's exit event must not be lost on the way (the shim holds
	// it until the record is written).
	subCtx, unsubscribe := context.WithCancel(e.ctx)
	defer unsubscribe()
	eventC, errC := e.client.EventService().Subscribe(subCtx, `topic=="/tasks/exit"`)
	// Sleeps between writes fix the order across the two pipes.
	script := `echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; printf 'out'; sleep 0.1; printf '2 joined\n'; sleep 0.1; echo "err2 with \"quotes\"" >&2; sleep 0.1; printf 'tail without newline'; exit 3`
	_, task, exitC := e.run(t, id, nil, script, nil)
	st := waitExit(t, exitC, 30*time.Second)
	if st.ExitCode() != 3 {
		t.Fatalf("exit code %d, want 3 (err %v)", st.ExitCode(), st.Error())
	}
	// Wait has returned: the log and the exit record must be complete now.
	recs := readLog(t, e.logPath(id))
	want := []logfile.Record{
		{Stream: "stdout", Log: "out1"},
		{Stream: "stderr", Log: "err1"},
		{Stream: "stdout", Log: "out2 joined"},
		{Stream: "stderr", Log: `err2 with "quotes"`},
		{Stream: "stdout", Log: "tail without newline", Partial: true},
	}
	if len(recs) != len(want) {
		t.Fatalf("log has %d records, want %d: %+v", len(recs), len(want), recs)
	}
	prev := start.Add(-time.Second)
	for i, w := range want {
		r := recs[i]
		if r.Stream != w.Stream || r.Log != w.Log || r.Partial != w.Partial {
			t.Errorf("record %d = %+v, want %+v", i, r, w)
		}
		if r.Time.Before(prev) || r.Time.After(time.Now()) {
			t.Errorf("record %d time %v out of order or range (previous %v)", i, r.Time, prev)
		}
		prev = r.Time
	}
	rec, err := exitrecord.Read(e.exitPath(id))
	if err != nil {
		t.Fatalf("exit record: %v", err)
	}
	if rec.ExitCode != 3 || rec.Signal != "" || rec.OOMKilled {
		t.Errorf("exit record %+v, want exit_code 3, no signal, not OOM", rec)
	}
	if rec.ExitedAt.Before(start) || rec.ExitedAt.After(time.Now()) || !rec.ExitedAt.Equal(st.ExitTime()) {
		t.Errorf("exited_at %v, task says %v", rec.ExitedAt, st.ExitTime())
	}
	if _, err := task.Delete(e.ctx); err != nil {
		t.Fatalf("delete task: %v", err)
	}
	exitEvent := func() *eventstypes.TaskExit {
		deadline := time.After(10 * time.Second)
		for {
			select {
			case env := <-eventC:
				v, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					t.Fatalf("decode event: %v", err)
				}
				if ev, ok := v.(*eventstypes.TaskExit); ok && ev.ContainerID == id {
					return ev
				}
			case err := <-errC:
				t.Fatalf("events: %v", err)
			case <-deadline:
				return nil
			}
		}
	}()
	if exitEvent == nil || exitEvent.ExitStatus != 3 {
		t.Errorf("containerd's /tasks/exit event for %s: %+v", id, exitEvent)
	}
	// Deleting the task keeps what the node reads later.
	if _, err := os.Stat(e.exitPath(id)); err != nil {
		t.Errorf("exit record gone after delete: %v", err)
	}
	if n := len(readLog(t, e.logPath(id))); n != len(want) {
		t.Errorf("log changed after delete: %d records", n)
	}
}

func (e *env) testRotation(t *testing.T) {
	const lines = 3000
	// Lines of both streams at once, 80-odd bytes each.
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "line $i of the rotation test, padded to make it longer"; echo "err $i" >&2; i=$((i+1)); done`, lines)
	t.Run("KeepsMaxFiles", func(t *testing.T) {
		id := "rotate-keep"
		_, _, exitC := e.run(t, id, map[string]string{
			contract.LogMaxSizeAnnotation:  "16k",
			contract.LogMaxFilesAnnotation: "3",
		}, script, nil)
		if st := waitExit(t, exitC, 60*time.Second); st.ExitCode() != 0 {
			t.Fatalf("exit %d", st.ExitCode())
		}
		files, err := logfile.Files(e.logPath(id))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 3 {
			t.Fatalf("files %v, want 3", files)
		}
		for _, f := range files {
			st, _ := os.Stat(f)
			if st.Size() > 16<<10 {
				t.Errorf("%s is %d bytes, over 16k", f, st.Size())
			}
		}
		// What survives is a contiguous tail of each stream, whole lines only.
		recs := readLog(t, e.logPath(id))
		checkContiguous(t, recs, lines, false)
	})
	t.Run("NoLineLost", func(t *testing.T) {
		id := "rotate-all"
		_, _, exitC := e.run(t, id, map[string]string{
			contract.LogMaxSizeAnnotation:  "32k",
			contract.LogMaxFilesAnnotation: "100",
		}, script, nil)
		if st := waitExit(t, exitC, 60*time.Second); st.ExitCode() != 0 {
			t.Fatalf("exit %d", st.ExitCode())
		}
		files, _ := logfile.Files(e.logPath(id))
		if len(files) < 5 || len(files) >= 100 {
			t.Fatalf("%d files; want several rotations and none dropped", len(files))
		}
		recs := readLog(t, e.logPath(id))
		checkContiguous(t, recs, lines, true)
	})
}

// checkContiguous verifies that each stream's records are whole lines with
// consecutive numbers ending at the last; with all, that none is missing.
func checkContiguous(t *testing.T, recs []logfile.Record, lines int, all bool) {
	t.Helper()
	next := map[string]int{"stdout": -1, "stderr": -1}
	count := map[string]int{}
	for _, r := range recs {
		if r.Partial {
			t.Fatalf("partial record %q", r.Log)
		}
		var n int
		var want string
		switch r.Stream {
		case "stdout":
			fmt.Sscanf(r.Log, "line %d", &n)
			want = fmt.Sprintf("line %d of the rotation test, padded to make it longer", n)
		case "stderr":
			fmt.Sscanf(r.Log, "err %d", &n)
			want = fmt.Sprintf("err %d", n)
		default:
			t.Fatalf("stream %q", r.Stream)
		}
		if r.Log != want {
			t.Fatalf("damaged line %q", r.Log)
		}
		if next[r.Stream] >= 0 && n != next[r.Stream] {
			t.Fatalf("%s: line %d follows line %d", r.Stream, n, next[r.Stream]-1)
		}
		if all && next[r.Stream] < 0 && n != 0 {
			t.Fatalf("%s starts at line %d", r.Stream, n)
		}
		next[r.Stream] = n + 1
		count[r.Stream]++
	}
	for _, s := range []string{"stdout", "stderr"} {
		// Without all, a stream may be rotated out entirely: each has its
		// own 64 KiB pipe, so one can be read that far behind the other,
		// more than the few files kept.
		if !all && count[s] == 0 && len(recs) > 0 {
			continue
		}
		if next[s] != lines {
			t.Errorf("%s ends before line %d (next %d)", s, lines-1, next[s])
		}
		if all && count[s] != lines {
			t.Errorf("%s: %d lines, want %d", s, count[s], lines)
		}
	}
	t.Logf("%d records kept (stdout %d, stderr %d)", len(recs), count["stdout"], count["stderr"])
}

// A container given its own stdio behaves as with runc: output goes to the
// creator, not to the shim's log.
func (e *env) testExplicitStdio(t *testing.T) {
	id := "explicit-stdio"
	var out, errb strings.Builder
	ioc := cio.NewCreator(cio.WithStreams(nil, &out, &errb), cio.WithFIFODir(e.s.FIFODir))
	_, task, exitC := e.run(t, id, nil, `echo to-out; echo to-err >&2; exit 5`, ioc)
	if st := waitExit(t, exitC, 30*time.Second); st.ExitCode() != 5 {
		t.Fatalf("exit %d", st.ExitCode())
	}
	task.CloseIO(e.ctx, containerd.WithStdinCloser)
	if p := task.IO(); p != nil {
		p.Wait()
	}
	if out.String() != "to-out\n" || errb.String() != "to-err\n" {
		t.Errorf("stdout %q stderr %q", out.String(), errb.String())
	}
	if _, err := os.Stat(e.logPath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("shim wrote a log for a container with its own stdio (stat: %v)", err)
	}
	rec, err := exitrecord.Read(e.exitPath(id))
	if err != nil || rec.ExitCode != 5 {
		t.Errorf("exit record %+v, %v; want exit_code 5", rec, err)
	}

	// A terminal too: the output reaches the creator through the pty.
	id = "with-tty"
	var tty safeBuffer
	ioc = cio.NewCreator(cio.WithStreams(nil, &tty, nil), cio.WithTerminal, cio.WithFIFODir(e.s.FIFODir))
	_, task, exitC = e.run(t, id, nil, `echo tty-ok; exit 0`, ioc, oci.WithTTY)
	if st := waitExit(t, exitC, 30*time.Second); st.ExitCode() != 0 {
		t.Fatalf("tty exit %d", st.ExitCode())
	}
	if p := task.IO(); p != nil {
		p.Wait()
	}
	if !strings.Contains(tty.String(), "tty-ok") {
		t.Errorf("terminal output %q", tty.String())
	}
	if _, err := os.Stat(e.logPath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("shim wrote a log for a container with a terminal (stat: %v)", err)
	}
}

// safeBuffer is written by cio's copy goroutine while the test reads it.
type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (e *env) testGrouping(t *testing.T) {
	group := map[string]string{contract.GroupAnnotation: "shop/web"}
	var tasks []containerd.Task
	for i := 0; i < 5; i++ {
		_, task, _ := e.run(t, fmt.Sprintf("web-%d", i), group, `while true; do echo alive; sleep 1; done`, nil)
		tasks = append(tasks, task)
	}
	shims := map[int]bool{}
	for _, task := range tasks {
		shims[parentPID(t, int(task.Pid()))] = true
	}
	if len(shims) != 1 {
		t.Fatalf("5 grouped containers run under %d shims (%v), want 1", len(shims), shims)
	}
	var shimPID int
	for p := range shims {
		shimPID = p
	}
	if name := processName(shimPID); name != "containerd-shim-zlayer-v1" {
		t.Errorf("containers' parent is %q (pid %d), not our shim", name, shimPID)
	}
	if got := shimsOf(e.s, "containerd-shim-zlayer-v1"); !contains(got, shimPID) {
		t.Errorf("shim %d not among containerd's shims %v", shimPID, got)
	}

	// Stopping one leaves the others running, under the same shim.
	st, err := stack.KillTask(e.ctx, tasks[2])
	if err != nil {
		t.Fatalf("delete web-2: %v", err)
	}
	if st.ExitCode() != 137 {
		t.Errorf("web-2 exit %d, want 137", st.ExitCode())
	}
	if rec, err := exitrecord.Read(e.exitPath("web-2")); err != nil || rec.Signal != "SIGKILL" || rec.ExitCode != 137 {
		t.Errorf("web-2 exit record %+v, %v", rec, err)
	}
	time.Sleep(1500 * time.Millisecond)
	for i, task := range tasks {
		if i == 2 {
			continue
		}
		s, err := task.Status(e.ctx)
		if err != nil || s.Status != containerd.Running {
			t.Errorf("web-%d: %v %v, want running", i, s.Status, err)
		}
		if p := parentPID(t, int(task.Pid())); p != shimPID {
			t.Errorf("web-%d now under %d, want shim %d", i, p, shimPID)
		}
	}
	if !alive(shimPID) {
		t.Fatal("the group's shim died with one of its containers")
	}
	// Each survivor keeps logging.
	before := len(readLog(t, e.logPath("web-0")))
	time.Sleep(2200 * time.Millisecond)
	if after := len(readLog(t, e.logPath("web-0"))); after <= before {
		t.Errorf("web-0 log did not grow (%d -> %d)", before, after)
	}

	// Without the annotation, one shim per container, as with runc.
	_, a, _ := e.run(t, "solo-a", nil, `sleep 300`, nil)
	_, b, _ := e.run(t, "solo-b", nil, `sleep 300`, nil)
	pa, pb := parentPID(t, int(a.Pid())), parentPID(t, int(b.Pid()))
	if pa == pb || pa == shimPID || pb == shimPID {
		t.Errorf("ungrouped containers share a shim: %d %d (group shim %d)", pa, pb, shimPID)
	}

	// The group's shim goes away with its last container.
	for i, task := range tasks {
		if i == 2 {
			continue
		}
		if _, err := stack.KillTask(e.ctx, task); err != nil {
			t.Errorf("delete web-%d: %v", i, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(shimPID) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if alive(shimPID) {
		t.Errorf("group shim %d outlived its containers", shimPID)
	}
}

func (e *env) testOOMKilled(t *testing.T) {
	const limit = 32 << 20
	opts := []oci.SpecOpts{oci.WithMemoryLimit(limit)}
	if memswAccounting() {
		// Without a swap limit the kernel would page out rather than kill.
		opts = append(opts, withSwapLimit(limit))
	} else if swapOn() {
		t.Skip("swap is on and the kernel does not account it per cgroup: a memory limit pages out instead of killing")
	}
	if !memoryControllerAvailable() {
		t.Skip("no memory cgroup controller on this machine")
	}
	id := "oom"
	// The shell keeps 256 MiB in a variable, far over the 32 MiB limit.
	_, _, exitC := e.run(t, id, nil, `echo start; x=$(head -c 268435456 /dev/zero | tr '\0' a); echo survived ${#x}`, nil, opts...)
	st := waitExit(t, exitC, 60*time.Second)
	rec, err := exitrecord.Read(e.exitPath(id))
	if err != nil {
		t.Fatalf("exit record: %v", err)
	}
	if !rec.OOMKilled {
		t.Fatalf("exit record %+v (task exit %d) not marked oom_killed", rec, st.ExitCode())
	}
	for _, r := range readLog(t, e.logPath(id)) {
		if strings.HasPrefix(r.Log, "survived") {
			t.Errorf("the shell survived: %q", r.Log)
		}
	}
	t.Logf("exit record: %+v", rec)
}

func (e *env) testBadAnnotation(t *testing.T) {
	id := "bad-annotation"
	c, err := e.client.NewContainer(e.ctx, id,
		containerd.WithNewSnapshot(id+"-snap", e.image),
		containerd.WithNewSpec(oci.WithImageConfig(e.image), oci.WithAnnotations(map[string]string{contract.LogMaxSizeAnnotation: "ten megs"})),
		containerd.WithRuntime(contract.Runtime, &options.Options{Root: e.s.RuncRoot}),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.remove(c) })
	_, err = c.NewTask(e.ctx, cio.NullIO)
	if err == nil {
		t.Fatal("task with a bad log-max-size was created")
	}
	if !strings.Contains(err.Error(), contract.LogMaxSizeAnnotation) || !strings.Contains(err.Error(), "ten megs") {
		t.Errorf("error does not name the annotation and value: %v", err)
	}

	// A command that does not exist fails the create as with runc, and
	// leaves no exit record: the task never ran.
	id = "no-such-command"
	c2, err := e.client.NewContainer(e.ctx, id,
		containerd.WithNewSnapshot(id+"-snap", e.image),
		containerd.WithNewSpec(oci.WithImageConfig(e.image), oci.WithProcessArgs("/no/such/command")),
		containerd.WithRuntime(contract.Runtime, &options.Options{Root: e.s.RuncRoot}),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.remove(c2) })
	if _, err := c2.NewTask(e.ctx, cio.NullIO); err == nil || !strings.Contains(err.Error(), "/no/such/command") {
		t.Errorf("create of a missing command: %v", err)
	}
	if _, err := os.Stat(e.exitPath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("exit record for a task that never ran (stat: %v)", err)
	}
}

// zlayer's own containerd-shim-zlayer-v1 face, for one-file installs, still
// runs a container: containerd takes a shim's absolute path as the runtime,
// and the face answers to the link's base name.
func (e *env) testMultiCallFace(t *testing.T) {
	dir := filepath.Join(e.s.Dir, "face")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	zlayer := filepath.Join(e.s.BinDir, "zlayer")
	face := filepath.Join(dir, "containerd-shim-zlayer-v1")
	_ = os.Remove(face)
	if err := os.Symlink(zlayer, face); err != nil {
		t.Fatal(err)
	}
	id := "multi-call-face"
	_, task, exitC := e.runOn(t, face, id, nil, "echo from-the-face; sleep 1; exit 5", nil)
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", parentPID(t, int(task.Pid()))))
	if want, _ := filepath.EvalSymlinks(zlayer); err != nil || exe != want {
		t.Errorf("container's shim runs %q (%v), want the multi-call %s", exe, err, want)
	}
	if st := waitExit(t, exitC, 30*time.Second); st.ExitCode() != 5 {
		t.Fatalf("exit code %d, want 5", st.ExitCode())
	}
	if recs := readLog(t, e.logPath(id)); len(recs) != 1 || recs[0].Log != "from-the-face" || recs[0].Stream != "stdout" {
		t.Errorf("log %+v, want one stdout line from-the-face", recs)
	}
	if rec, err := exitrecord.Read(e.exitPath(id)); err != nil || rec.ExitCode != 5 {
		t.Errorf("exit record %+v (%v), want exit_code 5", rec, err)
	}
}

// zlayer-logger as the binary-v2 log of a task on runc's own runtime
// writes the shim's format and rotates without losing a line, lean or as the
// zlayer face; a logger that cannot open its log fails the task's creation.
func (e *env) testLoggerUnderRunc(t *testing.T) {
	const lines = 3000
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "line $i of the rotation test, padded to make it longer"; echo "err $i" >&2; i=$((i+1)); done`, lines)
	face := filepath.Join(e.s.Dir, "logger-face", contract.LoggerName)
	if err := os.MkdirAll(filepath.Dir(face), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(face)
	if err := os.Symlink(filepath.Join(e.s.BinDir, "zlayer"), face); err != nil {
		t.Fatal(err)
	}
	logURI := func(t *testing.T, binary, stateDir string) cio.Creator {
		uri, err := cio.LogURIGenerator("binary-v2", binary,
			contract.LoggerArgs(stateDir, logfile.Options{MaxSize: 32 << 10, MaxFiles: 100}))
		if err != nil {
			t.Fatal(err)
		}
		return cio.LogURI(uri)
	}
	for name, bin := range map[string]string{"lean": filepath.Join(e.s.BinDir, contract.LoggerName), "face": face} {
		t.Run(name, func(t *testing.T) {
			id := "logger-" + name
			_, _, exitC := e.runOn(t, "io.containerd.runc.v2", id, nil, script, logURI(t, bin, e.s.StateDir))
			if st := waitExit(t, exitC, 60*time.Second); st.ExitCode() != 0 {
				t.Fatalf("exit %d", st.ExitCode())
			}
			// The logger writes until the pipes end, which may be just after
			// the exit is reported.
			var recs []logfile.Record
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				recs = readLog(t, e.logPath(id))
				if len(recs) >= 2*lines || time.Now().After(deadline) {
					break
				}
			}
			files, _ := logfile.Files(e.logPath(id))
			if len(files) < 5 {
				t.Errorf("%d files; want several rotations", len(files))
			}
			checkContiguous(t, recs, lines, true)
		})
	}
	t.Run("LogCannotOpen", func(t *testing.T) {
		id := "logger-cannot-open"
		blocker := filepath.Join(e.s.Dir, "not-a-dir")
		if err := os.WriteFile(blocker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := e.client.NewContainer(e.ctx, id,
			containerd.WithNewSnapshot(id+"-snap", e.image),
			containerd.WithNewSpec(oci.WithImageConfig(e.image), oci.WithProcessArgs("echo", "never")),
			containerd.WithRuntime("io.containerd.runc.v2", &options.Options{Root: e.s.RuncRoot}),
		)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.remove(c) })
		if task, err := c.NewTask(e.ctx, logURI(t, filepath.Join(e.s.BinDir, contract.LoggerName), blocker)); err == nil {
			_, _ = task.Delete(e.ctx)
			t.Fatal("task created though its logger cannot open the log")
		}
	})
}

func (e *env) testContainerdKilled(t *testing.T) {
	id := "survivor"
	_, task, _ := e.run(t, id, map[string]string{contract.GroupAnnotation: "survivors"},
		`i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.1; done`, nil)
	pid := int(task.Pid())
	shimPID := parentPID(t, pid)
	time.Sleep(500 * time.Millisecond)

	if err := e.s.KillContainerd(); err != nil {
		t.Fatalf("kill containerd: %v", err)
	}
	before := len(readLog(t, e.logPath(id)))
	time.Sleep(2 * time.Second)
	after := len(readLog(t, e.logPath(id)))
	if !alive(pid) || !alive(shimPID) {
		t.Fatalf("container (%v) or shim (%v) died with containerd", alive(pid), alive(shimPID))
	}
	if after <= before+5 {
		t.Errorf("log did not grow while containerd was down: %d -> %d records", before, after)
	}

	if err := e.s.StartContainerd(e.ctx); err != nil {
		t.Fatalf("restart containerd: %v", err)
	}
	e.connect(t)
	c, err := e.client.LoadContainer(e.ctx, id)
	if err != nil {
		t.Fatalf("load container after restart: %v", err)
	}
	task2, err := c.Task(e.ctx, nil)
	if err != nil {
		t.Fatalf("reconnect to task: %v", err)
	}
	if int(task2.Pid()) != pid {
		t.Errorf("task pid %d after restart, was %d", task2.Pid(), pid)
	}
	s, err := task2.Status(e.ctx)
	if err != nil || s.Status != containerd.Running {
		t.Fatalf("status after restart: %v %v", s.Status, err)
	}
	if parentPID(t, pid) != shimPID {
		t.Error("container moved to another shim")
	}
	// A second container of the group joins the surviving shim.
	_, task3, _ := e.run(t, "survivor-2", map[string]string{contract.GroupAnnotation: "survivors"}, `sleep 300`, nil)
	if p := parentPID(t, int(task3.Pid())); p != shimPID {
		t.Errorf("new group member under shim %d, want surviving shim %d", p, shimPID)
	}

	exitC, err := task2.Wait(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// SIGKILL: a shell as pid 1 ignores SIGTERM.
	if err := task2.Kill(e.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := waitExit(t, exitC, 30*time.Second)
	rec, err := exitrecord.Read(e.exitPath(id))
	if err != nil || rec.ExitCode != int(st.ExitCode()) || rec.ExitCode != 137 || rec.Signal != "SIGKILL" {
		t.Errorf("exit record %+v, %v; task exit %d", rec, err, st.ExitCode())
	}
	recs := readLog(t, e.logPath(id))
	for i, r := range recs {
		if r.Log != "tick "+strconv.Itoa(i) {
			t.Fatalf("record %d = %q: a line was lost or damaged across the restart", i, r.Log)
		}
	}
}

func withSwapLimit(limit int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		if s.Linux.Resources.Memory == nil {
			s.Linux.Resources.Memory = &specs.LinuxMemory{}
		}
		s.Linux.Resources.Memory.Swap = &limit
		return nil
	}
}

func parentPID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	// The command name may hold spaces; fields restart after its ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

func processName(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return filepath.Base(strings.SplitN(string(b), "\x00", 2)[0])
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return f[0] != "Z"
}

func shimsOf(s *stack.Stack, name string) []int {
	var out []int
	for _, p := range stack.ShimPIDs(s.ContainerdAddr) {
		if processName(p) == name {
			out = append(out, p)
		}
	}
	return out
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func memswAccounting() bool {
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
}

func swapOn() bool {
	b, _ := os.ReadFile("/proc/swaps")
	return len(strings.Split(strings.TrimSpace(string(b)), "\n")) > 1
}

func memoryControllerAvailable() bool {
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil {
		return true
	}
	b, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	return strings.Contains(string(b), "memory")
}
