package reconcile

import (
	"syscall"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

func TestStopPolicyOf(t *testing.T) {
	c := &Controller{o: Options{StopTimeout: 7 * time.Second}}
	zero, one := spec.Duration(0), spec.Duration(time.Second)
	cases := []struct {
		name string
		s    *spec.Service
		want stopPolicy
	}{
		{"unknown spec gets the node's", nil, stopPolicy{syscall.SIGTERM, 7 * time.Second}},
		{"unset gets the node's", &spec.Service{}, stopPolicy{syscall.SIGTERM, 7 * time.Second}},
		{"signal only", &spec.Service{StopSignal: "SIGQUIT"}, stopPolicy{syscall.SIGQUIT, 7 * time.Second}},
		{"short name", &spec.Service{StopSignal: "INT"}, stopPolicy{syscall.SIGINT, 7 * time.Second}},
		{"grace only", &spec.Service{StopGracePeriod: &one}, stopPolicy{syscall.SIGTERM, time.Second}},
		// 0s is signal then SIGKILL at once, not the node's default.
		{"zero grace", &spec.Service{StopSignal: "SIGUSR1", StopGracePeriod: &zero}, stopPolicy{syscall.SIGUSR1, 0}},
	}
	for _, tc := range cases {
		if got := c.stopPolicyOf(tc.s); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
