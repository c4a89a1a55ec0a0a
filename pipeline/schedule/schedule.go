// Package schedule runs the builds of a pipeline as a dependency graph: each
// image starts as soon as everything it depends on has built, rather than
// when its whole wave has, so a slow image holds back only its dependents. An
// image that fails makes its dependents skipped and leaves every other image
// alone.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zlayer/zlayer/pipeline/spec"
)

// State is where an image is in a run.
type State int

const (
	Queued State = iota
	Building
	Built
	Failed
	Skipped
	Pushing
	Pushed
	PushFailed
)

func (s State) String() string {
	return [...]string{"queued", "building", "built", "failed", "skipped", "pushing", "pushed", "push failed"}[s]
}

// Final reports whether the state ends an image's build phase.
func (s State) Final() bool { return s == Built || s == Failed || s == Skipped }

// Event tells a progress display what happened to one image.
type Event struct {
	Image  string
	State  State
	Step   string // with Building: the build step now running, when known
	Time   time.Time
	Digest string
	Err    error
	Reason string // with Skipped: why
	Log    string // with Building: a line of build output worth showing
}

// Result is what a successful build leaves for its dependents and the summary.
type Result struct {
	Digest string
	Dir    string // OCI layout folder holding the image
}

// Builder builds one image whose dependencies are built; deps holds their
// results. It reports steps through ev (State Building with Step set).
type Builder interface {
	Build(ctx context.Context, im *spec.Image, deps map[string]Result, ev func(Event)) (Result, error)
}

// BuilderFunc adapts a function to Builder.
type BuilderFunc func(ctx context.Context, im *spec.Image, deps map[string]Result, ev func(Event)) (Result, error)

func (f BuilderFunc) Build(ctx context.Context, im *spec.Image, deps map[string]Result, ev func(Event)) (Result, error) {
	return f(ctx, im, deps, ev)
}

// Options tune a run.
type Options struct {
	// FailFast starts no new build after the first failure.
	FailFast bool
	// Jobs caps concurrent builds; 0 means no cap (BuildKit schedules).
	Jobs int
}

// ImageResult is one line of the summary.
type ImageResult struct {
	Name     string
	Wave     int
	State    State
	Started  time.Time
	Duration time.Duration
	Result   Result
	Err      error
	Reason   string
}

// Summary is the outcome of a run, images in pipeline order.
type Summary struct {
	Images []*ImageResult
	Start  time.Time
	Took   time.Duration
}

// Failed counts images that failed to build or push.
func (s *Summary) Failed() int {
	n := 0
	for _, r := range s.Images {
		if r.State == Failed || r.State == PushFailed {
			n++
		}
	}
	return n
}

// Count returns how many images ended in state st.
func (s *Summary) Count(st State) int {
	n := 0
	for _, r := range s.Images {
		if r.State == st {
			n++
		}
	}
	return n
}

// Get returns the result for the named image.
func (s *Summary) Get(name string) *ImageResult {
	for _, r := range s.Images {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// ErrFailed is returned (wrapped) by Run when any image failed.
var ErrFailed = errors.New("pipeline failed")

// Run builds every image of pl with b. It returns when every image is built,
// failed or skipped; the error is non-nil (wrapping ErrFailed) if any failed,
// or the context's error when the run was cancelled.
func Run(ctx context.Context, pl *spec.Pipeline, b Builder, opts Options, ev func(Event)) (*Summary, error) {
	if ev == nil {
		ev = func(Event) {}
	}
	sum := &Summary{Start: time.Now()}
	byName := map[string]*ImageResult{}
	for w, wave := range pl.Waves() {
		for _, im := range wave {
			byName[im.Name] = &ImageResult{Name: im.Name, Wave: w, State: Queued}
		}
	}
	for _, im := range pl.Images {
		sum.Images = append(sum.Images, byName[im.Name])
	}
	dependents := pl.Dependents()

	type done struct {
		name string
		res  Result
		err  error
	}
	var (
		mu       sync.Mutex // guards ev ordering across goroutines
		running  int
		finished = make(chan done)
		stopped  bool // fail-fast tripped or context cancelled
		firstErr string
	)
	emit := func(e Event) {
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		mu.Lock()
		defer mu.Unlock()
		ev(e)
	}
	var skip func(name, reason string)
	skip = func(name, reason string) {
		r := byName[name]
		if r.State != Queued {
			return
		}
		r.State, r.Reason = Skipped, reason
		emit(Event{Image: name, State: Skipped, Reason: reason})
		for _, d := range dependents[name] {
			skip(d, "dependency "+name+" was skipped")
		}
	}
	ready := func(im *spec.Image) bool {
		for _, d := range im.DependsOn {
			if byName[d].State != Built {
				return false
			}
		}
		return true
	}
	start := func() {
		for _, im := range pl.Images {
			r := byName[im.Name]
			if r.State != Queued || !ready(im) || stopped {
				continue
			}
			if opts.Jobs > 0 && running >= opts.Jobs {
				return
			}
			deps := map[string]Result{}
			for _, d := range pl.Closure(im) {
				deps[d.Name] = byName[d.Name].Result
			}
			r.State, r.Started = Building, time.Now()
			running++
			emit(Event{Image: im.Name, State: Building, Time: r.Started})
			go func(im *spec.Image) {
				res, err := b.Build(ctx, im, deps, func(e Event) {
					e.Image, e.State = im.Name, Building
					emit(e)
				})
				finished <- done{im.Name, res, err}
			}(im)
		}
	}
	start()
	for running > 0 {
		var d done
		select {
		case d = <-finished:
		case <-ctx.Done():
			if !stopped {
				stopped = true
			}
			d = <-finished
		}
		running--
		r := byName[d.name]
		r.Duration = time.Since(r.Started)
		if d.err != nil {
			r.State, r.Err = Failed, d.err
			emit(Event{Image: d.name, State: Failed, Err: d.err})
			for _, dep := range dependents[d.name] {
				skip(dep, "dependency "+d.name+" failed")
			}
			if opts.FailFast && !stopped {
				stopped, firstErr = true, d.name
			}
		} else {
			r.State, r.Result = Built, d.res
			emit(Event{Image: d.name, State: Built, Digest: d.res.Digest})
		}
		if ctx.Err() != nil {
			stopped = true
		}
		start()
	}
	for _, im := range pl.Images {
		switch {
		case ctx.Err() != nil:
			skip(im.Name, "run cancelled")
		case firstErr != "":
			skip(im.Name, "not started: --fail-fast after "+firstErr+" failed")
		}
	}
	sum.Took = time.Since(sum.Start)
	if ctx.Err() != nil {
		return sum, ctx.Err()
	}
	if n := sum.Failed(); n > 0 {
		return sum, fmt.Errorf("%w: %d of %d images failed", ErrFailed, n, len(sum.Images))
	}
	return sum, nil
}
