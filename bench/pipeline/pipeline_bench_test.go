// Package pipelinebench measures the pipeline scheduler's makespan on a
// real builder: twelve images whose builds sleep for different times, built
// three ways in the same run (dependency-driven per-image bake calls, one
// bake call per wave with a barrier between waves, one image at a time),
// each compared with the critical path of the sleeps.
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/pipeline
package pipelinebench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/pipeline"
	"github.com/zlayer/zlayer/pipeline/bake"
	"github.com/zlayer/zlayer/pipeline/buildx"
	"github.com/zlayer/zlayer/pipeline/schedule"
	"github.com/zlayer/zlayer/pipeline/spec"
)

// graph: name -> (sleep seconds, dependencies). Waves: a-d, e-h, i-k, l.
var graph = []struct {
	name  string
	sleep int
	deps  []string
}{
	{"a", 16, nil}, {"b", 4, nil}, {"c", 6, nil}, {"d", 2, nil},
	{"e", 12, []string{"b"}}, {"f", 4, []string{"c"}}, {"g", 2, []string{"d"}}, {"h", 2, []string{"a"}},
	{"i", 8, []string{"e"}}, {"j", 10, []string{"f", "g"}}, {"k", 2, []string{"h"}},
	{"l", 2, []string{"i", "j"}},
}

// criticalPath is the longest chain of sleeps: no schedule can beat it.
func criticalPath() time.Duration {
	finish := map[string]int{}
	longest := 0
	for _, g := range graph {
		start := 0
		for _, d := range g.deps {
			if finish[d] > start {
				start = finish[d]
			}
		}
		finish[g.name] = start + g.sleep
		if finish[g.name] > longest {
			longest = finish[g.name]
		}
	}
	return time.Duration(longest) * time.Second
}

func writePipeline(b *testing.B, reg string) string {
	dir := b.TempDir()
	var y strings.Builder
	y.WriteString("version: \"1\"\nvars:\n  RUN: none\ndefaults:\n  build_args:\n    RUN: ${RUN}\nimages:\n")
	for _, g := range graph {
		from := "busybox"
		if len(g.deps) > 0 {
			from = reg + "/bench/" + g.deps[0] + ":1"
		}
		df := fmt.Sprintf("FROM %s\nARG RUN\nRUN echo \"$RUN\" > /%s && sleep %d\n", from, g.name, g.sleep)
		if err := os.WriteFile(filepath.Join(dir, g.name+".Dockerfile"), []byte(df), 0o644); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&y, "  %s:\n    file: %s.Dockerfile\n    tags: [%s/bench/%s:1]\n", g.name, g.name, reg, g.name)
		if len(g.deps) > 0 {
			fmt.Fprintf(&y, "    depends_on: [%s]\n", strings.Join(g.deps, ", "))
		}
	}
	p := filepath.Join(dir, "ZPipeline.yaml")
	if err := os.WriteFile(p, []byte(y.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

type quiet struct{}

func (quiet) Begin(*spec.Pipeline)         {}
func (quiet) Event(schedule.Event)         {}
func (quiet) End(*schedule.Summary, error) {}

func runID() string {
	x := make([]byte, 4)
	rand.Read(x)
	return hex.EncodeToString(x)
}

// load parses the pipeline with a fresh RUN value, so every mode misses the
// cache on its RUN steps and really sleeps.
func load(b *testing.B, file string) *spec.Pipeline {
	pl, err := spec.Load(file, map[string]string{"RUN": runID()})
	if err != nil {
		b.Fatal(err)
	}
	return pl
}

func dag(b *testing.B, ctx context.Context, s *stack.Stack, file string, jobs int) (time.Duration, *schedule.Summary) {
	pl := load(b, file)
	t0 := time.Now()
	sum, err := pipeline.Run(ctx, pl, pipeline.Options{Env: s.Env(), Builder: s.BuilderName, Jobs: jobs}, quiet{})
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(t0), sum
}

// soloCriticalPath is the longest chain of per-image build times measured
// when each image built alone (the sequential run): sleep plus the fixed cost
// of one bake call. It is the best any per-image schedule can do here.
func soloCriticalPath(sum *schedule.Summary) time.Duration {
	finish := map[string]time.Duration{}
	var longest time.Duration
	for _, g := range graph {
		var start time.Duration
		for _, d := range g.deps {
			if finish[d] > start {
				start = finish[d]
			}
		}
		finish[g.name] = start + sum.Get(g.name).Duration
		if finish[g.name] > longest {
			longest = finish[g.name]
		}
	}
	return longest
}

// barrier builds each wave with one bake call holding all its images and
// starts the next wave only when that call returns.
func barrier(b *testing.B, ctx context.Context, s *stack.Stack, file string) time.Duration {
	pl := load(b, file)
	cli, err := buildx.Find(s.BuilderName, s.Env())
	if err != nil {
		b.Fatal(err)
	}
	work := b.TempDir()
	layouts := filepath.Join(work, "oci")
	built := map[string]bake.Layout{}
	t0 := time.Now()
	for i, wave := range pl.Waves() {
		var names, targets []string
		for _, im := range wave {
			names = append(names, im.Name)
			targets = append(targets, bake.TargetName(im.Name))
		}
		def, err := bake.Generate(pl, names, bake.Options{Built: built, OutDir: layouts})
		if err != nil {
			b.Fatal(err)
		}
		js, _ := def.JSON()
		meta, err := cli.Bake(ctx, buildx.BakeOptions{Definition: js, Targets: targets, Dir: pl.Dir, WorkDir: work, Name: fmt.Sprintf("wave%d", i),
			Allow: []string{"fs.write=" + work, "fs.read=" + work}})
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range names {
			built[n] = bake.Layout{Dir: filepath.Join(layouts, n), Digest: meta[bake.TargetName(n)].Digest}
		}
	}
	return time.Since(t0)
}

func BenchmarkPipelineMakespan(b *testing.B) {
	s := stack.Start(b, stack.Options{Buildkit: true})
	file := writePipeline(b, s.Registry)
	ctx := context.Background()
	// Warm up: pull busybox and start the builder's workers once.
	dag(b, ctx, s, file, 0)
	cp := criticalPath()
	for i := 0; i < b.N; i++ {
		d, _ := dag(b, ctx, s, file, 0)
		w := barrier(b, ctx, s, file)
		q, seq := dag(b, ctx, s, file, 1)
		solo := soloCriticalPath(seq)
		b.ReportMetric(d.Seconds()/cp.Seconds(), "dag/critical")
		b.ReportMetric(d.Seconds()/solo.Seconds(), "dag/solo-critical")
		b.ReportMetric(w.Seconds()/d.Seconds(), "waves/dag")
		b.ReportMetric(q.Seconds()/d.Seconds(), "sequential/dag")
		fmt.Printf("critical path of the sleeps             %6.1fs\n", cp.Seconds())
		fmt.Printf("critical path of solo build times       %6.1fs  (each image's time when built alone, bake overhead included)\n", solo.Seconds())
		fmt.Printf("dependency-driven (zlayer)              %6.1fs  %.2fx sleeps' critical path, %.2fx solo critical path\n", d.Seconds(), d.Seconds()/cp.Seconds(), d.Seconds()/solo.Seconds())
		fmt.Printf("one bake per wave, barriers             %6.1fs  %.2fx sleeps' critical path; zlayer is %.2fx faster\n", w.Seconds(), w.Seconds()/cp.Seconds(), w.Seconds()/d.Seconds())
		fmt.Printf("sequential, one image at a time         %6.1fs  %.2fx sleeps' critical path; zlayer is %.2fx faster\n", q.Seconds(), q.Seconds()/cp.Seconds(), q.Seconds()/d.Seconds())
	}
}
