// Package pipeline builds the images of a ZPipeline with docker buildx bake:
// one bake call per image, started by a dependency-graph scheduler as soon as
// the image's dependencies are built, each dependent reading its
// dependencies from the OCI layouts this run produced; tags are pushed only
// once every image has built.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/zlayer/zlayer/pipeline/bake"
	"github.com/zlayer/zlayer/pipeline/buildx"
	"github.com/zlayer/zlayer/pipeline/push"
	"github.com/zlayer/zlayer/pipeline/schedule"
	"github.com/zlayer/zlayer/pipeline/spec"
)

// Options are the pipeline command's choices.
type Options struct {
	File     string   // pipeline file; "" finds one in the working folder
	Sets     []string // K=V var overrides
	Only     []string // build these and their dependencies
	Push     bool     // push every tag after all built (also push.after_all)
	FailFast bool
	Builder  string // buildx builder; "" for buildx's choice
	Frontend string // frontend image for ZImagefiles without a syntax line
	Jobs     int    // concurrent builds, 0 = no cap
	OutDir   string // keep the OCI layouts here; "" uses a temp folder removed afterwards
	Env      []string
}

// Load finds, parses and narrows the pipeline.
func Load(o Options) (*spec.Pipeline, error) {
	file := o.File
	if file == "" {
		// Relative to the working folder, so messages name it as the user would.
		var err error
		if file, err = spec.Find("."); err != nil {
			return nil, err
		}
	}
	sets, err := spec.ParseSets(o.Sets)
	if err != nil {
		return nil, err
	}
	pl, err := spec.Load(file, sets)
	if err != nil {
		return nil, err
	}
	return pl.Only(o.Only)
}

// Print writes the bake definition that builds the whole pipeline in one
// `docker buildx bake -f - ` call run from the pipeline's folder.
func Print(pl *spec.Pipeline, o Options, w io.Writer) error {
	def, err := bake.Generate(pl, nil, bake.Options{
		Frontend:   frontend(o),
		RelativeTo: pl.Dir,
		Push:       o.Push || pl.PushAfterAll,
	})
	if err != nil {
		return err
	}
	b, err := def.JSON()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func frontend(o Options) string {
	if o.Frontend != "" {
		return o.Frontend
	}
	if f := os.Getenv("ZLAYER_FRONTEND"); f != "" {
		return f
	}
	return bake.DefaultFrontend
}

// Display shows a run's progress.
type Display interface {
	Begin(pl *spec.Pipeline)
	Event(e schedule.Event)
	End(sum *schedule.Summary, err error)
}

// ErrPush is wrapped by Run's error when a push failed.
var ErrPush = errors.New("push failed")

// Run builds pl and, when asked, pushes its tags. The summary is returned even
// on failure; the error wraps schedule.ErrFailed or ErrPush.
func Run(ctx context.Context, pl *spec.Pipeline, o Options, d Display) (*schedule.Summary, error) {
	cli, err := buildx.Find(o.Builder, o.Env)
	if err != nil {
		return nil, err
	}
	driver, err := cli.Check(ctx)
	if err != nil {
		return nil, err
	}
	if driver == "docker" {
		// Dependents read this run's images as OCI layouts, which the
		// docker driver's classic image store cannot export.
		return nil, fmt.Errorf("buildx builder %q uses the docker driver, which cannot export the OCI layouts a pipeline passes between images; create a builder with another driver (`docker buildx create --use`) or name one with --builder", builderName(o.Builder))
	}
	work := o.OutDir
	if work == "" {
		if work, err = os.MkdirTemp("", "zlayer-pipeline-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(work)
	} else {
		if work, err = filepath.Abs(work); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(work, 0o755); err != nil {
			return nil, err
		}
	}
	b := &bakeBuilder{cli: cli, pl: pl, work: work, frontend: frontend(o)}
	d.Begin(pl)
	sum, err := schedule.Run(ctx, pl, b, schedule.Options{FailFast: o.FailFast, Jobs: o.Jobs}, d.Event)
	if err == nil && (o.Push || pl.PushAfterAll) {
		err = pushAll(ctx, pl, sum, d.Event)
	}
	d.End(sum, err)
	return sum, err
}

type bakeBuilder struct {
	cli      *buildx.CLI
	pl       *spec.Pipeline
	work     string
	frontend string
}

func (b *bakeBuilder) Build(ctx context.Context, im *spec.Image, deps map[string]schedule.Result, ev func(schedule.Event)) (schedule.Result, error) {
	built := map[string]bake.Layout{}
	for name, r := range deps {
		built[name] = bake.Layout{Dir: r.Dir, Digest: r.Digest}
	}
	layouts := filepath.Join(b.work, "oci")
	out := filepath.Join(layouts, im.Name)
	if err := os.RemoveAll(out); err != nil {
		return schedule.Result{}, err
	}
	def, err := bake.Generate(b.pl, []string{im.Name}, bake.Options{Frontend: b.frontend, Built: built, OutDir: layouts})
	if err != nil {
		return schedule.Result{}, err
	}
	js, err := def.JSON()
	if err != nil {
		return schedule.Result{}, err
	}
	meta, err := b.cli.Bake(ctx, buildx.BakeOptions{
		Definition: js,
		Targets:    []string{bake.TargetName(im.Name)},
		Dir:        b.pl.Dir,
		WorkDir:    b.work,
		Name:       im.Name,
		OnStep:     func(s string) { ev(schedule.Event{Step: s}) },
		OnLog:      func(l string) { ev(schedule.Event{Log: l}) },
		Allow:      b.allow(im),
	})
	if err != nil {
		return schedule.Result{}, frontendHint(err, b.frontend)
	}
	dgst := meta[bake.TargetName(im.Name)].Digest
	if dgst == "" {
		// Older buildx versions leave the digest out for local exports; the
		// layout's index names it.
		if desc, err := push.Find(out, ""); err == nil {
			dgst = desc.Digest.String()
		}
	}
	return schedule.Result{Digest: dgst, Dir: out}, nil
}

func builderName(b string) string {
	if b == "" {
		return "(current)"
	}
	return b
}

// frontendHint explains a missing ZImagefile frontend image, which a user
// meets before anything else on a fresh registry or mirror.
func frontendHint(err error, ref string) error {
	msg := err.Error()
	if strings.Contains(msg, bake.Familiar(ref)) && strings.Contains(msg, "not found") {
		return fmt.Errorf("%w\nthe ZImagefile frontend image %s is not in the registry the builder pulls from: push it there (docker buildx bake frontend, in the zlayer repository), or point --frontend / ZLAYER_FRONTEND at a copy", err, ref)
	}
	return err
}

// allow lists what bake must be allowed to touch outside the pipeline's
// folder: the run's layouts (written, and read as dependencies' contexts)
// and contexts or build files that live elsewhere.
func (b *bakeBuilder) allow(im *spec.Image) []string {
	out := []string{"fs.write=" + b.work, "fs.read=" + b.work}
	outside := []string{im.Context, filepath.Dir(im.File)}
	// The pipeline file names its secret files and agent keys; bake asks
	// for each one outside its folder, and for forwarding the default agent.
	for _, s := range im.Secrets {
		if s.Src != "" {
			outside = append(outside, s.Src)
		}
	}
	agent := false
	for _, a := range im.SSH {
		outside = append(outside, a.Paths...)
		agent = agent || len(a.Paths) == 0
	}
	if agent {
		out = append(out, "ssh")
	}
	for _, p := range outside {
		if r, err := filepath.Rel(b.pl.Dir, p); err != nil || r == ".." || strings.HasPrefix(r, "../") {
			out = append(out, "fs.read="+p)
		}
	}
	return out
}

// pushAll pushes every built image's tags, a few images at a time. Any
// failure fails the run.
func pushAll(ctx context.Context, pl *spec.Pipeline, sum *schedule.Summary, ev func(schedule.Event)) error {
	p := push.New()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, 4)
	)
	for _, im := range pl.Images {
		r := sum.Get(im.Name)
		if r == nil || r.State != schedule.Built || len(im.Tags) == 0 {
			continue
		}
		wg.Add(1)
		go func(im *spec.Image, r *schedule.ImageResult) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			mu.Lock()
			ev(schedule.Event{Image: im.Name, State: schedule.Pushing, Time: time.Now()})
			mu.Unlock()
			err := p.Push(ctx, r.Result.Dir, r.Result.Digest, im.Tags)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.State, r.Err = schedule.PushFailed, err
				errs = append(errs, fmt.Errorf("%s: %w", im.Name, err))
				ev(schedule.Event{Image: im.Name, State: schedule.PushFailed, Err: err, Time: time.Now()})
				return
			}
			r.State = schedule.Pushed
			ev(schedule.Event{Image: im.Name, State: schedule.Pushed, Digest: r.Result.Digest, Time: time.Now()})
		}(im, r)
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrPush, errors.Join(errs...))
	}
	return nil
}
