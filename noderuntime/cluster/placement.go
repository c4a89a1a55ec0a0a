package cluster

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/pki"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

// placement is what the scheduler gave this node, as the controller asks
// for it (reconcile.Placement). It is kept on disk: a node restarted while
// cut off from the servers runs what it ran, not nothing.
type placement struct {
	path string

	self string

	mu    sync.Mutex
	known bool // set once the servers (or the file) said anything
	owner map[apitypes.ReplicaRef]apitypes.Assignment
	ready map[string]int
}

type placementFile struct {
	Assignments    []apitypes.Assignment `json:"assignments"`
	ReadyElsewhere map[string]int        `json:"ready_elsewhere,omitempty"`
}

func newPlacement(path, self string) *placement {
	return &placement{path: path, self: self, owner: map[apitypes.ReplicaRef]apitypes.Assignment{}, ready: map[string]int{}}
}

func (p *placement) load() error {
	var f placementFile
	if err := loadJSON(p.path, &f); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	p.set(f.Assignments, f.ReadyElsewhere)
	return nil
}

// update takes the servers' word and says whether it changed anything.
func (p *placement) update(asg []apitypes.Assignment, ready map[string]int) (bool, error) {
	if !p.set(asg, ready) {
		return false, nil
	}
	sorted := slices.Clone(asg)
	slices.SortFunc(sorted, func(a, b apitypes.Assignment) int { return cmpRef(a.ReplicaRef, b.ReplicaRef) })
	return true, saveJSON(p.path, placementFile{Assignments: sorted, ReadyElsewhere: ready})
}

func cmpRef(a, b apitypes.ReplicaRef) int {
	return cmp.Or(cmp.Compare(a.Deployment, b.Deployment), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Index, b.Index))
}

func (p *placement) set(asg []apitypes.Assignment, ready map[string]int) bool {
	next := make(map[apitypes.ReplicaRef]apitypes.Assignment, len(asg))
	for _, a := range asg {
		next[a.ReplicaRef] = a
	}
	if ready == nil {
		ready = map[string]int{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	same := p.known && maps.Equal(p.owner, next) && maps.Equal(p.ready, ready)
	p.known, p.owner, p.ready = true, next, ready
	return !same
}

// Owner is reconcile.Placement's. A replica moving away (From) runs on
// both nodes until the new one is ready. Until the servers have said
// anything, and for indices not placed yet, it is unknown: the node keeps
// what it runs.
func (p *placement) Owner(dep, svc string, index int) reconcile.Owner {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.owner[apitypes.ReplicaRef{Deployment: dep, Service: svc, Index: index}]
	switch {
	case !p.known || !ok:
		return reconcile.OwnerUnknown
	case a.Node == p.self || a.From == p.self:
		return reconcile.OwnerHere
	}
	return reconcile.OwnerElsewhere
}

// ReadyElsewhere is reconcile.Placement's.
func (p *placement) ReadyElsewhere(dep, svc, hash string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready[readyKey(dep, svc, hash)]
}

func readyKey(dep, svc, hash string) string { return dep + "/" + svc + "/" + hash }

func saveJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := pki.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func loadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// here counts the indices this node runs.
func (p *placement) here() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.owner {
		if a.Node == p.self || a.From == p.self {
			n++
		}
	}
	return n
}
