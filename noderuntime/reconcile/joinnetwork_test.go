package reconcile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// flakyNetwork fails its first fails attaches, as a CNI chain does while
// another process holds the xtables lock.
type flakyNetwork struct {
	HostNetwork
	fails, calls int
}

func (f *flakyNetwork) Attach(context.Context, string, uint32) (string, error) {
	f.calls++
	if f.calls <= f.fails {
		return "", errors.New("xtables lock held")
	}
	return "10.210.0.7", nil
}

func TestJoinNetworkRetriesTransientFailures(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		fails     int
		wantCalls int
		wantErr   string
	}{
		{fails: 0, wantCalls: 1},
		{fails: 2, wantCalls: 3},
		{fails: 5, wantCalls: 3, wantErr: "xtables lock held"},
	} {
		n := &flakyNetwork{fails: tc.fails}
		c := New(Options{Log: quiet, Networks: Networks{spec.NetworkBridge: n}})
		addr, err := c.joinNetwork(t.Context(), "r1", spec.NetworkBridge, 42)
		if n.calls != tc.wantCalls {
			t.Errorf("fails=%d: %d attaches, want %d", tc.fails, n.calls, tc.wantCalls)
		}
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || addr != "" {
				t.Errorf("fails=%d: %q, %v; want the attach error", tc.fails, addr, err)
			}
			continue
		}
		if err != nil || addr != "10.210.0.7" {
			t.Errorf("fails=%d: %q, %v", tc.fails, addr, err)
		}
	}
	// A mode the node lacks is an error at once, never the loopback address.
	c := New(Options{Log: quiet})
	if addr, err := c.joinNetwork(t.Context(), "r1", spec.NetworkBridge, 42); err == nil {
		t.Fatalf("bridge on a host-only node gave %q", addr)
	}
}
