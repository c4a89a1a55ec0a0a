package api

import (
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// A spec without network_mode gets the node's default mode when applied,
// and one that names a mode keeps it.
func TestApplyGivesTheNodesNetworkMode(t *testing.T) {
	for _, c := range []struct {
		node, written, want spec.NetworkMode
	}{
		{"", "", spec.NetworkHost},
		{spec.NetworkBridge, "", spec.NetworkBridge},
		{spec.NetworkBridge, spec.NetworkHost, spec.NetworkHost},
		{spec.NetworkHost, spec.NetworkBridge, spec.NetworkBridge},
	} {
		s, srv := newServer(t)
		s.Bridge, s.NetworkMode = true, c.node
		body := appSpec
		if c.written != "" {
			body = strings.Replace(appSpec, "image: busybox", "image: busybox\n    network_mode: "+string(c.written), 1)
		}
		if code, m := do(t, "POST", srv.URL+"/v1/deployments", "sekrit", "application/yaml", body); code != 201 {
			t.Fatalf("apply: %d %v", code, m)
		}
		rec, err := s.Store.Get("app")
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.Spec.Services["web"].NetworkMode; got != c.want {
			t.Errorf("node default %q, spec %q: stored %q, want %q", c.node, c.written, got, c.want)
		}
	}
}
