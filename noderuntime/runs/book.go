package runs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/zlayer/zlayer/noderuntime/pki"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// Book keeps the histories of a node's job and cron services, one file
// per service under its folder (DIR/DEPLOYMENT/SERVICE.json), each written
// whole and renamed into place, so a node that dies mid-write keeps the
// history before it.
type Book struct {
	dir string

	mu sync.Mutex
	h  map[string]*History // by DEPLOYMENT/SERVICE, as read or last written
}

// OpenBook keeps its histories in dir (made when missing).
func OpenBook(dir string) (*Book, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("runs folder: %w", err)
	}
	return &Book{dir: dir, h: map[string]*History{}}, nil
}

// path is where dep/svc's history is kept; both are spec names (no '/'
// or '.'), checked again so no caller can lead it out of the folder.
func (b *Book) path(dep, svc string) (string, error) {
	if spec.CheckName(dep) != nil || spec.CheckName(svc) != nil {
		return "", fmt.Errorf("runs of %q/%q: not a deployment and service name", dep, svc)
	}
	return filepath.Join(b.dir, dep, svc+".json"), nil
}

// load is dep/svc's history, read from its file the first time. b.mu held.
func (b *Book) load(dep, svc string) (*History, error) {
	key := dep + "/" + svc
	if h := b.h[key]; h != nil {
		return h, nil
	}
	p, err := b.path(dep, svc)
	if err != nil {
		return nil, err
	}
	h := &History{}
	data, err := os.ReadFile(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read runs of %s: %w", key, err)
	default:
		if err := json.Unmarshal(data, h); err != nil {
			return nil, fmt.Errorf("read runs of %s (%s): %w", key, p, err)
		}
	}
	b.h[key] = h
	return h, nil
}

// Read is a copy of dep/svc's history.
func (b *Book) Read(dep, svc string) (History, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, err := b.load(dep, svc)
	if err != nil {
		return History{}, err
	}
	return History{Last: h.Last, Runs: append([]Run(nil), h.Runs...)}, nil
}

// Update changes dep/svc's history with f and writes it, when f reports a
// change; f's error (or the write's) leaves the kept history as it was.
func (b *Book) Update(dep, svc string, f func(h *History) (bool, error)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, err := b.load(dep, svc)
	if err != nil {
		return err
	}
	next := &History{Last: cur.Last, Runs: append([]Run(nil), cur.Runs...)}
	changed, err := f(next)
	if err != nil || !changed {
		return err
	}
	p, _ := b.path(dep, svc)
	data, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("write runs of %s/%s: %w", dep, svc, err)
	}
	if err := pki.WriteFile(p, data, 0o600); err != nil {
		return fmt.Errorf("write runs of %s/%s: %w", dep, svc, err)
	}
	b.h[dep+"/"+svc] = next
	return nil
}

// Forget drops dep/svc's history (a service removed from its deployment,
// or a deployment removed).
func (b *Book) Forget(dep, svc string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, err := b.path(dep, svc)
	if err != nil {
		return err
	}
	delete(b.h, dep+"/"+svc)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("forget runs of %s/%s: %w", dep, svc, err)
	}
	_ = os.Remove(filepath.Dir(p)) // only once empty
	return nil
}

// Services lists the DEPLOYMENT/SERVICE pairs with a kept history.
func (b *Book) Services() ([][2]string, error) {
	deps, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var out [][2]string
	for _, d := range deps {
		if !d.IsDir() || spec.CheckName(d.Name()) != nil {
			continue
		}
		files, err := os.ReadDir(filepath.Join(b.dir, d.Name()))
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		for _, f := range files {
			svc, ok := strings.CutSuffix(f.Name(), ".json")
			if ok && spec.CheckName(svc) == nil {
				out = append(out, [2]string{d.Name(), svc})
			}
		}
	}
	return out, nil
}
