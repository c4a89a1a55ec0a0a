package reconcile

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/remotes"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PullStalledError is a pull given up because the registry sent nothing
// for the progress timeout while the pull waited on it. Big images are not
// cut off: only a pull that stops moving is.
type PullStalledError struct {
	Image string
	After time.Duration
}

func (e *PullStalledError) Error() string {
	return fmt.Sprintf("pull %s: the registry sent nothing for %s (pull progress timeout)", e.Image, e.After)
}

// progress records when a pull last moved. Waiting counts only while a
// registry call is in flight (resolving, fetching a blob): unpacking after
// the last byte arrived is not a stall.
type progress struct {
	mu     sync.Mutex
	active int
	last   time.Time
}

func (p *progress) begin() {
	p.mu.Lock()
	if p.active == 0 {
		p.last = time.Now()
	}
	p.active++
	p.mu.Unlock()
}

func (p *progress) end() {
	p.mu.Lock()
	p.active--
	p.last = time.Now()
	p.mu.Unlock()
}

func (p *progress) touch() {
	p.mu.Lock()
	p.last = time.Now()
	p.mu.Unlock()
}

func (p *progress) stalled(limit time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active > 0 && time.Since(p.last) > limit
}

// watchPull returns a context that ends with a *PullStalledError as its
// cause when the pull it carries stops moving for limit, and the resolver
// that reports the pull's movement.
func watchPull(ctx context.Context, image string, limit time.Duration, r remotes.Resolver) (context.Context, remotes.Resolver, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	p := &progress{last: time.Now()}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(max(limit/4, 50*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				if p.stalled(limit) {
					cancel(&PullStalledError{Image: image, After: limit})
					return
				}
			}
		}
	}()
	var once sync.Once
	return ctx, &watchedResolver{Resolver: r, p: p}, func() {
		once.Do(func() { close(done) })
		cancel(nil)
	}
}

type watchedResolver struct {
	remotes.Resolver
	p *progress
}

func (r *watchedResolver) Resolve(ctx context.Context, ref string) (string, ocispec.Descriptor, error) {
	r.p.begin()
	defer r.p.end()
	return r.Resolver.Resolve(ctx, ref)
}

func (r *watchedResolver) Fetcher(ctx context.Context, ref string) (remotes.Fetcher, error) {
	f, err := r.Resolver.Fetcher(ctx, ref)
	if err != nil {
		return nil, err
	}
	return &watchedFetcher{f: f, p: r.p}, nil
}

type watchedFetcher struct {
	f remotes.Fetcher
	p *progress
}

func (f *watchedFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	f.p.begin()
	rc, err := f.f.Fetch(ctx, desc)
	if err != nil {
		f.p.end()
		return nil, err
	}
	f.p.touch()
	return &watchedReader{rc: rc, p: f.p}, nil
}

type watchedReader struct {
	rc   io.ReadCloser
	p    *progress
	once sync.Once
}

func (r *watchedReader) Read(b []byte) (int, error) {
	n, err := r.rc.Read(b)
	if n > 0 {
		r.p.touch()
	}
	if err != nil {
		r.once.Do(r.p.end)
	}
	return n, err
}

func (r *watchedReader) Close() error {
	r.once.Do(r.p.end)
	return r.rc.Close()
}
