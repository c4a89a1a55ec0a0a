package spec

import (
	"testing"
	"time"
)

const stopBase = "version: v1\ndeployment: x\nservices:\n"

func TestStopSettings(t *testing.T) {
	d, err := Parse("stop.yaml", []byte(stopBase+`  a:
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
	bad := func(svc, signal, grace string) string {
		return "  " + svc + ":\n    image: busybox\n    stop_signal: " + signal + "\n    stop_grace_period: " + grace + "\n"
	}
	want := []string{
		`h.yaml:6:18: services.a.stop_signal: "sigterm" is not a signal name`,
		"h.yaml:7:24: services.a.stop_grace_period: must be at most 1h0m0s, got 2h0m0s",
		`h.yaml:10:18: services.b.stop_signal: "SIGSIGTERM" is not a signal name`,
		"h.yaml:11:24: services.b.stop_grace_period: must not be negative",
		`h.yaml:14:18: services.c.stop_signal: "32" is not a signal name`,
		"h.yaml:15:24: services.c.stop_grace_period: must be a duration",
	}
	es := mustRefuse(t, stopBase+bad("a", "sigterm", "2h")+bad("b", "SIGSIGTERM", "-1s")+bad("c", "32", "soon"), want...)
	if len(es) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(es), len(want), es)
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
