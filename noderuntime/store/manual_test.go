package store

import (
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// A manual service keeps the count zlayer scale gave it when its file is
// deployed again; a fixed one takes the file's.
func TestManualScaleKeptAcrossDeploys(t *testing.T) {
	three, one := 3, 1
	prev := &Record{Spec: &spec.Deployment{Deployment: "d", Services: map[string]*spec.Service{
		"m": {Scale: spec.Scale{Mode: spec.ScaleManual, Replicas: &three}},
		"f": {Scale: spec.Scale{Mode: spec.ScaleFixed, Replicas: &three}},
	}}}
	zero := 0
	d := &spec.Deployment{Deployment: "d", Services: map[string]*spec.Service{
		"m": {Scale: spec.Scale{Mode: spec.ScaleManual, Replicas: &zero}},
		"f": {Scale: spec.Scale{Mode: spec.ScaleFixed, Replicas: &one}},
	}}
	rec := Next(prev, d, "f.yaml", Change{}, time.Unix(0, 0))
	if got := rec.Spec.Services["m"].Scale.Count(); got != 3 {
		t.Errorf("manual: %d replicas, want the 3 it had", got)
	}
	if got := rec.Spec.Services["f"].Scale.Count(); got != 1 {
		t.Errorf("fixed: %d replicas, want the file's 1", got)
	}
}
