package schedule

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zlayer/zlayer/pipeline/spec"
)

func load(t *testing.T, body string) *spec.Pipeline {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ZPipeline.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	pl, err := spec.Load(filepath.Join(dir, "ZPipeline.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// fake builds by sleeping per image and failing those in fail; it records
// start and end times and checks each build sees its dependencies' results.
type fake struct {
	t      *testing.T
	sleep  map[string]time.Duration
	fail   map[string]bool
	mu     sync.Mutex
	starts map[string]time.Time
	ends   map[string]time.Time
}

func newFake(t *testing.T) *fake {
	return &fake{t: t, sleep: map[string]time.Duration{}, fail: map[string]bool{}, starts: map[string]time.Time{}, ends: map[string]time.Time{}}
}

func (f *fake) Build(ctx context.Context, im *spec.Image, deps map[string]Result, ev func(Event)) (Result, error) {
	f.mu.Lock()
	f.starts[im.Name] = time.Now()
	f.mu.Unlock()
	for _, d := range im.DependsOn {
		if deps[d].Digest != "sha256:"+d {
			f.t.Errorf("%s started without %s's result: %+v", im.Name, d, deps)
		}
	}
	ev(Event{Step: "[1/1] RUN sleep"})
	select {
	case <-time.After(f.sleep[im.Name]):
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	f.mu.Lock()
	f.ends[im.Name] = time.Now()
	f.mu.Unlock()
	if f.fail[im.Name] {
		return Result{}, errors.New("RUN exit 1")
	}
	return Result{Digest: "sha256:" + im.Name}, nil
}

const graph = `images:
  base: {file: Dockerfile}
  slow: {file: Dockerfile}
  app: {file: Dockerfile, depends_on: [base]}
  top: {file: Dockerfile, depends_on: [app]}
  sib: {file: Dockerfile, depends_on: [base]}
`

func TestDependentsWaitAndStartEarly(t *testing.T) {
	pl := load(t, graph)
	f := newFake(t)
	f.sleep = map[string]time.Duration{"base": 20 * time.Millisecond, "slow": 300 * time.Millisecond, "app": 20 * time.Millisecond, "top": 20 * time.Millisecond, "sib": 10 * time.Millisecond}
	var events []Event
	sum, err := Run(context.Background(), pl, f, Options{}, func(e Event) { events = append(events, e) })
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range pl.Images {
		for _, d := range im.DependsOn {
			if f.starts[im.Name].Before(f.ends[d]) {
				t.Errorf("%s started before %s ended", im.Name, d)
			}
		}
	}
	// No barrier: top (wave 2) finishes while slow (wave 0) still builds.
	if !f.ends["top"].Before(f.ends["slow"]) {
		t.Errorf("top waited for the slow wave-0 image: top %v slow %v", f.ends["top"], f.ends["slow"])
	}
	if sum.Count(Built) != 5 || sum.Failed() != 0 {
		t.Errorf("summary %+v", sum.Images)
	}
	if sum.Get("top").Wave != 2 || sum.Get("top").Result.Digest != "sha256:top" {
		t.Errorf("top result %+v", sum.Get("top"))
	}
	var steps int
	for _, e := range events {
		if e.State == Building && e.Step != "" {
			steps++
		}
	}
	if steps != 5 {
		t.Errorf("want 5 step events, got %d", steps)
	}
}

func TestFailureSkipsOnlyDependents(t *testing.T) {
	pl := load(t, graph)
	f := newFake(t)
	f.fail["app"] = true
	sum, err := Run(context.Background(), pl, f, Options{}, nil)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err %v, want ErrFailed", err)
	}
	want := map[string]State{"base": Built, "slow": Built, "app": Failed, "top": Skipped, "sib": Built}
	for name, st := range want {
		if got := sum.Get(name).State; got != st {
			t.Errorf("%s: %v, want %v", name, got, st)
		}
	}
	if r := sum.Get("top").Reason; r != "dependency app failed" {
		t.Errorf("top reason %q", r)
	}
	if _, ran := f.starts["top"]; ran {
		t.Error("top was built although app failed")
	}
	if !strings.Contains(err.Error(), "1 of 5") {
		t.Errorf("err %v", err)
	}
}

func TestTransitiveSkip(t *testing.T) {
	pl := load(t, graph)
	f := newFake(t)
	f.fail["base"] = true
	sum, _ := Run(context.Background(), pl, f, Options{}, nil)
	for _, n := range []string{"app", "top", "sib"} {
		if sum.Get(n).State != Skipped {
			t.Errorf("%s: %v", n, sum.Get(n).State)
		}
	}
	if sum.Get("top").Reason != "dependency app was skipped" || sum.Get("slow").State != Built {
		t.Errorf("top %q slow %v", sum.Get("top").Reason, sum.Get("slow").State)
	}
}

func TestFailFast(t *testing.T) {
	pl := load(t, `images:
  a: {file: Dockerfile}
  b: {file: Dockerfile}
  c: {file: Dockerfile, depends_on: [b]}
  d: {file: Dockerfile, depends_on: [b]}
`)
	f := newFake(t)
	f.fail["a"] = true
	f.sleep = map[string]time.Duration{"a": 5 * time.Millisecond, "b": 100 * time.Millisecond}
	sum, err := Run(context.Background(), pl, f, Options{FailFast: true}, nil)
	if !errors.Is(err, ErrFailed) {
		t.Fatal(err)
	}
	// b was running when a failed: it finishes; c and d are never started.
	if sum.Get("b").State != Built || sum.Get("c").State != Skipped || sum.Get("d").State != Skipped {
		t.Errorf("states b=%v c=%v d=%v", sum.Get("b").State, sum.Get("c").State, sum.Get("d").State)
	}
	if !strings.Contains(sum.Get("c").Reason, "--fail-fast after a failed") {
		t.Errorf("reason %q", sum.Get("c").Reason)
	}
}

func TestJobsCap(t *testing.T) {
	pl := load(t, `images:
  a: {file: Dockerfile}
  b: {file: Dockerfile}
  c: {file: Dockerfile}
`)
	var mu sync.Mutex
	cur, peak := 0, 0
	b := BuilderFunc(func(ctx context.Context, im *spec.Image, deps map[string]Result, ev func(Event)) (Result, error) {
		mu.Lock()
		cur++
		if cur > peak {
			peak = cur
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		cur--
		mu.Unlock()
		return Result{}, nil
	})
	if _, err := Run(context.Background(), pl, b, Options{Jobs: 1}, nil); err != nil {
		t.Fatal(err)
	}
	if peak != 1 {
		t.Errorf("peak concurrency %d with Jobs=1", peak)
	}
}

func TestCancel(t *testing.T) {
	pl := load(t, graph)
	f := newFake(t)
	for _, im := range pl.Images {
		f.sleep[im.Name] = time.Hour
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	sum, err := Run(ctx, pl, f, Options{}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if sum.Get("top").State != Skipped || sum.Get("base").State != Failed {
		t.Errorf("top %v base %v", sum.Get("top").State, sum.Get("base").State)
	}
}
