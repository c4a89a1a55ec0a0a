package spec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStopSettings(t *testing.T) {
	d, err := Parse("stop.yaml", []byte(`version: v1
deployment: x
services:
  a:
    image: busybox
    stop_signal: QUIT
    stop_grace_period: 0s
  b:
    image: busybox
    stop_signal: SIGINT
    stop_grace_period: 1h
  c:
    image: busybox
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := d.Services["a"], d.Services["b"], d.Services["c"]
	if a.StopSignal != "SIGQUIT" || a.StopGracePeriod == nil || a.StopGracePeriod.D() != 0 {
		t.Errorf("a: signal %q grace %v", a.StopSignal, a.StopGracePeriod)
	}
	if b.StopSignal != "SIGINT" || b.StopGracePeriod == nil || b.StopGracePeriod.D() != time.Hour {
		t.Errorf("b: signal %q grace %v", b.StopSignal, b.StopGracePeriod)
	}
	// Unset stays unset: the node fills in SIGTERM and its --stop-timeout.
	if c.StopSignal != "" || c.StopGracePeriod != nil {
		t.Errorf("c: signal %q grace %v", c.StopSignal, c.StopGracePeriod)
	}
}

func TestStopSettingsRefusedWithPositions(t *testing.T) {
	_, err := Parse("stop.yaml", []byte(`version: v1
deployment: x
services:
  a:
    image: busybox
    stop_signal: sigterm
    stop_grace_period: 2h
  b:
    image: busybox
    stop_signal: SIGSIGTERM
    stop_grace_period: -1s
  c:
    image: busybox
    stop_signal: 15
    stop_grace_period: soon
`))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []string{
		`stop.yaml:6:18: services.a.stop_signal: "sigterm" is not a signal name`,
		"stop.yaml:7:24: services.a.stop_grace_period: must be at most 1h0m0s, got 2h0m0s",
		`stop.yaml:10:18: services.b.stop_signal: "SIGSIGTERM" is not a signal name`,
		"stop.yaml:11:24: services.b.stop_grace_period: must not be negative",
		`stop.yaml:14:18: services.c.stop_signal: "15" is not a signal name`,
		"stop.yaml:15:24: services.c.stop_grace_period: must be a duration",
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
	if len(es) != len(want) {
		t.Errorf("got %d errors, want %d:\n%s", len(es), len(want), msg)
	}
}

// The stop settings are read at stop time: changing them must not roll
// replicas.
func TestStopSettingsLeaveHashAlone(t *testing.T) {
	grace := Duration(time.Second)
	plain := &Service{Image: Image{Name: "busybox"}}
	tuned := &Service{Image: Image{Name: "busybox"}, StopSignal: "SIGQUIT", StopGracePeriod: &grace}
	if plain.Hash() != tuned.Hash() {
		t.Errorf("hash changed with the stop settings: %s vs %s", plain.Hash(), tuned.Hash())
	}
}
