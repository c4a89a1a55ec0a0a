// Package shim_test measures containerd-shim-zlayer-v1 against containerd's
// own io.containerd.runc.v2 in one run on one machine, and prints ratios:
// shim memory for 10 grouped containers, container start latency, and the
// log rate a container can sustain with no line dropped. Memory and latency
// are measured for the lean shim binary (what make build and the node image
// install) and for the multi-call zlayer's face of that name (a one-file
// install), so the cost of the face stays visible.
//
// Run with ZLAYER_BENCH=1 (bench/shim.sh does); it is skipped otherwise so
// that `go test ./...` stays fast.
package shim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/shim/contract"
	"github.com/zlayer/zlayer/shim/logfile"
)

const runcRuntime = "io.containerd.runc.v2"

type bench struct {
	s      *stack.Stack
	client *containerd.Client
	image  containerd.Image
	ctx    context.Context
	seq    int
	// face is the absolute path of a link named containerd-shim-zlayer-v1
	// to zlayer: containerd takes a shim's path as runtime name, and the
	// multi-call binary picks the face from the link's base name.
	face string
}

func TestBenchShim(t *testing.T) {
	if os.Getenv("ZLAYER_BENCH") == "" {
		t.Skip("set ZLAYER_BENCH=1 (or run bench/shim.sh)")
	}
	s := stack.Start(t, stack.Options{Containerd: true})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	b := &bench{s: s, ctx: ctx, client: s.ContainerdClient(t)}
	img, err := b.client.Pull(ctx, s.Registry+"/library/busybox:latest",
		containerd.WithPullUnpack, containerd.WithResolver(s.Resolver()))
	if err != nil {
		t.Fatalf("pull busybox: %v", err)
	}
	b.image = img
	if b.face, err = faceLink(s); err != nil {
		t.Fatal(err)
	}

	var report []string
	report = append(report, b.memory(t)...)
	report = append(report, b.startLatency(t)...)
	report = append(report, b.logThroughput(t)...)
	fmt.Println("\n== containerd-shim-zlayer-v1 vs io.containerd.runc.v2 (same run, same machine; zlayer = the lean shim binary)")
	for _, l := range report {
		fmt.Println(l)
	}
}

type ctr struct {
	c    containerd.Container
	task containerd.Task
	exit <-chan containerd.ExitStatus
}

func (b *bench) start(t *testing.T, runtime string, annotations map[string]string, ioc cio.Creator, script string) ctr {
	t.Helper()
	b.seq++
	id := fmt.Sprintf("b%d-%s", b.seq, b.label(runtime))
	c, err := b.client.NewContainer(b.ctx, id,
		containerd.WithNewSnapshot(id, b.image),
		containerd.WithNewSpec(oci.WithImageConfig(b.image), oci.WithProcessArgs("sh", "-c", script), oci.WithAnnotations(annotations)),
		containerd.WithRuntime(runtime, &options.Options{Root: b.s.RuncRoot}),
	)
	if err != nil {
		t.Fatalf("container: %v", err)
	}
	if ioc == nil {
		ioc = cio.NullIO
	}
	task, err := c.NewTask(b.ctx, ioc)
	if err != nil {
		t.Fatalf("task: %v", err)
	}
	exitC, err := task.Wait(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(b.ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	return ctr{c: c, task: task, exit: exitC}
}

func (b *bench) remove(cs ...ctr) {
	ctx := namespaces.WithNamespace(context.Background(), b.s.Namespace)
	for _, c := range cs {
		_, _ = stack.KillTask(ctx, c.task)
		_ = c.c.Delete(ctx, containerd.WithSnapshotCleanup)
	}
}

// memory sums the resident memory of the shims serving 10 containers.
func (b *bench) memory(t *testing.T) []string {
	const n = 10
	// VmRSS counts the binary's pages, which shims of one binary share;
	// RssAnon is what each shim costs on its own. Both are reported.
	measure := func(runtime string, annotations map[string]string) (kib, anon int, shims int) {
		var cs []ctr
		for i := 0; i < n; i++ {
			cs = append(cs, b.start(t, runtime, annotations, nil, "sleep 600"))
		}
		defer b.remove(cs...)
		// Let the shims finish starting up and the Go runtime settle.
		time.Sleep(3 * time.Second)
		seen := map[int]bool{}
		for _, c := range cs {
			p := parentPID(int(c.task.Pid()))
			if !seen[p] {
				seen[p] = true
				kib += statusKiB(p, "VmRSS:")
				anon += statusKiB(p, "RssAnon:")
			}
		}
		return kib, anon, len(seen)
	}
	group := map[string]string{contract.GroupAnnotation: "bench/web"}
	zk, za, zs := measure(contract.Runtime, group)
	rk, ra, rs := measure(runcRuntime, nil)
	uk, ua, us := measure(contract.Runtime, nil)
	// Its own group: a group's socket does not depend on the binary, so
	// face containers of bench/web would join a lean shim.
	fk, fa, fs := measure(b.face, map[string]string{contract.GroupAnnotation: "bench/web-face"})
	return []string{
		fmt.Sprintf("shim RSS, 10 containers: zlayer grouped %d KiB in %d shim(s); runc.v2 %d KiB in %d shims; ratio %.3f (target <= 0.25)", zk, zs, rk, rs, float64(zk)/float64(rk)),
		fmt.Sprintf("  anonymous memory only: zlayer grouped %d KiB, runc.v2 %d KiB; ratio %.3f", za, ra, float64(za)/float64(ra)),
		fmt.Sprintf("shim RSS, 10 containers ungrouped: zlayer %d KiB in %d shims; ratio to runc.v2 %.3f (anonymous only %.3f)", uk, us, float64(uk)/float64(rk), float64(ua)/float64(ra)),
		fmt.Sprintf("shim RSS, 10 containers grouped, multi-call zlayer face: %d KiB in %d shim(s); ratio to runc.v2 %.3f (anonymous only %.3f)", fk, fs, float64(fk)/float64(rk), float64(fa)/float64(ra)),
	}
}

// startLatency times create+start of a container (shim start included),
// rotating the runtimes' order so that drift on a shared machine hits all
// alike.
func (b *bench) startLatency(t *testing.T) []string {
	const rounds = 12
	var z, r, f, g []time.Duration
	group := map[string]string{contract.GroupAnnotation: "bench/latency"}
	// One long-lived member so that grouped starts join a running shim.
	anchor := b.start(t, contract.Runtime, group, nil, "sleep 600")
	defer b.remove(anchor)
	timeOne := func(runtime string, annotations map[string]string) time.Duration {
		t0 := time.Now()
		c := b.start(t, runtime, annotations, nil, "sleep 600")
		d := time.Since(t0)
		b.remove(c)
		return d
	}
	kinds := []struct {
		runtime string
		out     *[]time.Duration
	}{{contract.Runtime, &z}, {runcRuntime, &r}, {b.face, &f}}
	for i := 0; i < rounds; i++ {
		for j := range kinds {
			k := kinds[(i+j)%len(kinds)]
			*k.out = append(*k.out, timeOne(k.runtime, nil))
		}
		g = append(g, timeOne(contract.Runtime, group))
	}
	mz, mr, mf, mg := median(z), median(r), median(f), median(g)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return []string{
		fmt.Sprintf("start latency (median of %d): zlayer %v, runc.v2 %v; ratio %.3f (target <= 1.10)", rounds, ms(mz), ms(mr), float64(mz)/float64(mr)),
		fmt.Sprintf("start latency through the multi-call zlayer face: %v; ratio to runc.v2 %.3f (the lean shim saves %v a start)", ms(mf), float64(mf)/float64(mr), ms(mf-mz)),
		fmt.Sprintf("start latency joining a running group shim: %v; ratio to runc.v2 %.3f", ms(mg), float64(mg)/float64(mr)),
	}
}

// logThroughput has a container print lines as fast as it can, through the
// shim's JSON log, and checks every line arrived. The baselines are runc.v2
// with output discarded and with runc's own raw file logging (file://).
func (b *bench) logThroughput(t *testing.T) []string {
	const lines = 400000
	line := "a log line of a busy service, with a request id and some numbers 0123456789"
	script := fmt.Sprintf(`yes %q | head -n %d`, line, lines)
	bytes := float64(lines * (len(line) + 1))
	run := func(runtime string, annotations map[string]string, ioc cio.Creator) (time.Duration, ctr) {
		t0 := time.Now()
		c := b.start(t, runtime, annotations, ioc, script)
		select {
		case st := <-c.exit:
			if st.ExitCode() != 0 {
				t.Fatalf("log writer exited %d", st.ExitCode())
			}
		case <-time.After(5 * time.Minute):
			t.Fatal("log writer did not finish")
		}
		return time.Since(t0), c
	}
	dz, cz := run(contract.Runtime, map[string]string{contract.LogMaxSizeAnnotation: "1g"}, nil)
	defer b.remove(cz)
	var got int
	logPath := contract.LogPath(b.s.StateDir, b.s.Namespace, cz.c.ID())
	if err := logfile.Read(logPath, func(r logfile.Record) error {
		if r.Log != line || r.Partial {
			return fmt.Errorf("damaged line %q", r.Log)
		}
		got++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != lines {
		t.Errorf("log holds %d lines, want %d: the shim dropped output", got, lines)
	}
	dn, cn := run(runcRuntime, nil, nil)
	defer b.remove(cn)
	rawPath := filepath.Join(b.s.Dir, "bench-raw.log")
	df, cf := run(runcRuntime, nil, cio.LogFile(rawPath))
	defer b.remove(cf)
	defer os.Remove(rawPath)
	rate := func(d time.Duration) string {
		return fmt.Sprintf("%.0f lines/s (%.1f MB/s)", lines/d.Seconds(), bytes/d.Seconds()/1e6)
	}
	return []string{
		fmt.Sprintf("log throughput, %d lines: zlayer JSON log %s, %d/%d lines kept", lines, rate(dz), got, lines),
		fmt.Sprintf("  runc.v2 to /dev/null %s; zlayer/runc ratio %.3f", rate(dn), dn.Seconds()/dz.Seconds()),
		fmt.Sprintf("  runc.v2 raw file:// log %s; zlayer/runc ratio %.3f", rate(df), df.Seconds()/dz.Seconds()),
	}
}

// faceLink makes the face link in a folder of its own, so that nothing else
// containerd looks up on PATH is shadowed by it.
func faceLink(s *stack.Stack) (string, error) {
	dir := filepath.Join(s.Dir, "bench-face")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	link := filepath.Join(dir, "containerd-shim-zlayer-v1")
	_ = os.Remove(link)
	return link, os.Symlink(filepath.Join(s.BinDir, "zlayer"), link)
}

// label names a runtime in container IDs.
func (b *bench) label(runtime string) string {
	if runtime == b.face {
		return "face"
	}
	return strings.Split(runtime, ".")[2]
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func parentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	p, _ := strconv.Atoi(f[1])
	return p
}

func statusKiB(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
