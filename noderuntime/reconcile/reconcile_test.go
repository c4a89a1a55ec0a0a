package reconcile

import (
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

func TestBackoffDoublesAndCaps(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := backoff(time.Second, i+1); got != w {
			t.Errorf("backoff(1s, %d) = %s, want %s", i+1, got, w)
		}
	}
	if got := backoff(time.Second, 30); got != time.Minute {
		t.Errorf("cap: %s", got)
	}
}

func TestAfterExitPolicies(t *testing.T) {
	c := New(Options{})
	mk := func(kind spec.RestartKind, max int) *Replica {
		return &Replica{spec: &spec.Service{RestartPolicy: spec.RestartPolicy{Kind: kind, MaxAttempts: max, Delay: spec.Duration(time.Millisecond)}}}
	}
	r := mk("no", 0)
	r.LastExit = &ExitInfo{Code: 1}
	c.afterExit(r, 0)
	if r.State != StateExited {
		t.Errorf("no: %s", r.State)
	}
	r = mk("on_failure", 0)
	r.LastExit = &ExitInfo{Code: 0}
	c.afterExit(r, 0)
	if r.State != StateExited {
		t.Errorf("on_failure after success: %s", r.State)
	}
	r = mk("on_failure", 0)
	for i := 0; i < 3; i++ {
		r.LastExit = &ExitInfo{Code: 1}
		c.afterExit(r, 0)
	}
	if r.State != StateCrashLoop {
		t.Errorf("three quick failures: %s", r.State)
	}
	r = mk("always", 2)
	r.Restarts = 2
	r.LastExit = &ExitInfo{Code: 0}
	c.afterExit(r, 0)
	if r.State != StateExited || r.Message == "" {
		t.Errorf("max_attempts: %s %q", r.State, r.Message)
	}
}

func TestSignalNumber(t *testing.T) {
	for in, want := range map[any]int{"SIGKILL": 9, "TERM": 15, "9": 9, float64(15): 15, "": 0, nil: 0} {
		if got := signalNumber(in); got != want {
			t.Errorf("signalNumber(%v) = %d, want %d", in, got, want)
		}
	}
}
