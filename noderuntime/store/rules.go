package store

import (
	"fmt"
	"time"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// The rules of generations and their history, as pure functions: the
// node's bbolt store and the cluster's etcd state both keep deployments
// with history, and both must make the same generations of the same
// requests, so each decision is made here once and they only read and
// write what it says.

// Kept is one stored history entry as read, not yet decoded.
type Kept struct {
	Generation int64
	Value      []byte
}

// Next is the record that follows prev (nil: none, or one that cannot be
// decoded) when d is stored with ch at now. Unless ch is a rollback,
// services of d that were never restarted take the restart counter of
// the same service in prev, so a deploy of the same file after a restart
// rolls nothing (a rollback takes its generation's counters as they
// were). d is changed in place.
func Next(prev *Record, d *spec.Deployment, source string, ch Change, now time.Time) *Record {
	rec := &Record{Name: d.Deployment, CreatedAt: now}
	if prev != nil {
		rec.CreatedAt, rec.Generation = prev.CreatedAt, prev.Generation
		if ch.Cause != CauseRollback {
			for name, svc := range d.Services {
				if old := prev.Spec.Services[name]; old != nil && svc.Restart == 0 {
					svc.Restart = old.Restart
				}
				// scale.mode manual: the count is zlayer scale's, kept
				// across deploys of the file.
				if old := prev.Spec.Services[name]; old != nil && svc.Scale.Mode == spec.ScaleManual && old.Scale.Mode == spec.ScaleManual {
					n := old.Scale.Count()
					svc.Scale.Replicas = &n
				}
			}
		}
	}
	rec.Spec, rec.Source, rec.UpdatedAt = d, source, now
	rec.Cause, rec.By, rec.RolledBack = ch.Cause, ch.By, ch.RolledBack
	rec.Generation++
	return rec
}

// HistoryEntry is the history entry that keeps rec.
func HistoryEntry(rec *Record) Generation {
	return Generation{
		Generation: rec.Generation, At: rec.UpdatedAt, Hash: rec.Spec.Hash(), Cause: rec.Cause, By: rec.By,
		RolledBack: rec.RolledBack, Source: rec.Source, Spec: rec.Spec,
	}
}

// Forgotten says which of the kept generations (ascending) go once
// current is stored: the oldest past MaxHistory, and any after current,
// which are left from an earlier life of the name (its record was lost
// and it started again at 1).
func Forgotten(kept []int64, current int64) []int64 {
	var drop, live []int64
	for _, g := range kept {
		if g > current {
			drop = append(drop, g)
		} else {
			live = append(live, g)
		}
	}
	if n := len(live) - MaxHistory; n > 0 {
		drop = append(drop, live[:n]...)
	}
	return drop
}

// PlanRollback is what a rollback of cur by req stores: the spec and
// source of an earlier kept generation (kept: ascending), marked as
// rolled back. ErrStale when req.IfGeneration is not cur's, ErrNoGeneration
// when there is no such generation.
func PlanRollback(cur *Record, kept []Kept, req RollbackRequest) (*spec.Deployment, string, Change, error) {
	name := cur.Name
	if req.IfGeneration != 0 && cur.Generation != req.IfGeneration {
		return nil, "", Change{}, fmt.Errorf("rollback of %s generation %d: %w (now generation %d)", name, req.IfGeneration, ErrStale, cur.Generation)
	}
	target, err := pick(kept, cur, req.To)
	if err != nil {
		return nil, "", Change{}, fmt.Errorf("rollback of %s: %w", name, err)
	}
	reason := req.Reason
	if reason == "" {
		reason = "requested"
	}
	return target.Spec, target.Source, Change{
		Cause: CauseRollback, By: req.By,
		RolledBack: &RolledBack{From: cur.Generation, To: target.Generation, Reason: reason, Auto: req.Auto},
	}, nil
}

// pick finds the generation a rollback of cur goes to among kept (to: see
// RollbackRequest.To).
func pick(kept []Kept, cur *Record, to int64) (*Generation, error) {
	if to >= cur.Generation {
		return nil, fmt.Errorf("%w: %d is not before the current generation (%d)", ErrNoGeneration, to, cur.Generation)
	}
	if len(kept) == 0 {
		return nil, ErrNoGeneration
	}
	if to > 0 {
		for _, k := range kept {
			if k.Generation == to {
				return decodeGen(k.Value)
			}
		}
		return nil, fmt.Errorf("generation %d: %w", to, ErrNoGeneration)
	}
	hash := cur.Spec.Hash()
	for i := len(kept) - 1; i >= 0; i-- {
		if kept[i].Generation >= cur.Generation {
			continue
		}
		g, err := decodeGen(kept[i].Value)
		if err != nil {
			continue
		}
		if g.Hash != hash {
			return g, nil
		}
	}
	return nil, fmt.Errorf("no kept generation runs other replicas than the current one: %w", ErrNoGeneration)
}

// PlanRestart is what a restart of service svc of cur by by stores: cur's
// spec with svc's restart counter one more, so the controller rolls its
// replicas. ErrNoService when cur has no such service.
func PlanRestart(cur *Record, svc, by string) (*spec.Deployment, string, Change, error) {
	sv := cur.Spec.Services[svc]
	if sv == nil {
		return nil, "", Change{}, fmt.Errorf("deployment %q has no service %q: %w", cur.Name, svc, ErrNoService)
	}
	sv.Restart++
	return cur.Spec, cur.Source, Change{Cause: CauseRestart, By: by}, nil
}

// Decoded is the kept entries that decode, oldest first; skip hears of
// each that does not (history is for looking back; the deployment itself
// is what runs, so a bad entry is left out, not fatal).
func Decoded(kept []Kept, skip func(gen int64, err error)) []Generation {
	out := []Generation{}
	for _, k := range kept {
		g, err := decodeGen(k.Value)
		if err != nil {
			skip(k.Generation, err)
			continue
		}
		out = append(out, *g)
	}
	return out
}
