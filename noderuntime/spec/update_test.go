package spec

import (
	"testing"
	"time"
)

func TestUpdatePolicy(t *testing.T) {
	d, err := Parse("u.yaml", []byte(stopBase+`  a:
    image: busybox
    update: {parallelism: 2, max_surge: 1, order: start-first, failure_action: rollback, monitor: 5s}
  b:
    image: busybox
  c:
    image: busybox
    endpoints: [{name: web, port: 80}]
  d:
    image: busybox
    endpoints: [{name: web, port: 80}]
    update: {order: start-first, parallelism: 3}
  e:
    image: busybox
    update: {order: stop-first, parallelism: 2, max_surge: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	type pol struct {
		order      UpdateOrder
		par, surge int
		monitor    time.Duration
		action     FailureAction
	}
	for name, want := range map[string]pol{
		"a": {StartFirst, 2, 1, 5 * time.Second, FailureRollback},
		// Today's behaviour when nothing is said: one at a time, start-first,
		// pausing where a replacement fails.
		"b": {StartFirst, 1, 1, DefaultMonitor, FailurePause},
		// Host-network ports cannot overlap: stop-first unless the spec says.
		"c": {StopFirst, 1, 0, DefaultMonitor, FailurePause},
		"d": {StartFirst, 3, 3, DefaultMonitor, FailurePause},
		"e": {StopFirst, 2, 0, DefaultMonitor, FailurePause},
	} {
		var got pol
		got.order, got.par, got.surge, got.monitor, got.action = d.Services[name].Policy()
		if got != want {
			t.Errorf("%s: policy %+v, want %+v", name, got, want)
		}
	}
}

func TestUpdateRefusedWithPositions(t *testing.T) {
	want := []string{
		"h.yaml:7:20: services.a.update.parallelism: must be at least 1, got 0",
		"h.yaml:8:18: services.a.update.max_surge: must be at least 0, got -1",
		`h.yaml:9:14: services.a.update.order: must be one of start-first, stop-first, got "random"`,
		`h.yaml:10:23: services.a.update.failure_action: must be one of pause, rollback, got "retry"`,
		"h.yaml:11:16: services.a.update.monitor: must be at least 1s, got 10ms",
		`h.yaml:12:7: services.a.update.surge: unknown key "surge" (allowed: parallelism, max_surge, order, failure_action, monitor)`,
	}
	es := mustRefuse(t, stopBase+`  a:
    image: busybox
    update:
      parallelism: 0
      max_surge: -1
      order: random
      failure_action: retry
      monitor: 10ms
      surge: 1
`, want...)
	if len(es) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(es), len(want), es)
	}
}

// update says how to roll, not what runs; the restart counter is what
// zlayer restart bumps to roll a service, and only a bumped one moves
// the hash.
func TestUpdateAndRestartInHash(t *testing.T) {
	plain := &Service{Image: Image{Name: "busybox"}}
	two := 2
	tuned := &Service{Image: Image{Name: "busybox"}, Update: Update{Parallelism: 3, MaxSurge: &two, Order: StopFirst, FailureAction: FailureRollback, Monitor: Duration(time.Minute)}}
	if plain.Hash() != tuned.Hash() {
		t.Errorf("hash changed with the update policy: %s vs %s", plain.Hash(), tuned.Hash())
	}
	zero := &Service{Image: Image{Name: "busybox"}, Restart: 0}
	one := &Service{Image: Image{Name: "busybox"}, Restart: 1}
	twice := &Service{Image: Image{Name: "busybox"}, Restart: 2}
	if zero.Hash() != plain.Hash() {
		t.Error("restart 0 changed the hash")
	}
	if one.Hash() == plain.Hash() || one.Hash() == twice.Hash() {
		t.Errorf("restart counters do not move the hash: %s %s %s", plain.Hash(), one.Hash(), twice.Hash())
	}
}

func TestDeploymentHash(t *testing.T) {
	three := 3
	a := &Deployment{Deployment: "x", Services: map[string]*Service{"a": {Image: Image{Name: "busybox"}}, "b": {Image: Image{Name: "nginx"}}}}
	scaled := &Deployment{Deployment: "x", Services: map[string]*Service{"b": {Image: Image{Name: "nginx"}, Scale: Scale{Replicas: &three}}, "a": {Image: Image{Name: "busybox"}}}}
	changed := &Deployment{Deployment: "x", Services: map[string]*Service{"a": {Image: Image{Name: "busybox:1"}}, "b": {Image: Image{Name: "nginx"}}}}
	if a.Hash() != scaled.Hash() {
		t.Error("scale moved the deployment hash")
	}
	if a.Hash() == changed.Hash() {
		t.Error("a new image did not move the deployment hash")
	}
}
