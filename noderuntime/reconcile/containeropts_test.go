package reconcile

import (
	"context"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

func TestContainerOptsShapeTheSpec(t *testing.T) {
	ro := false
	s := &spec.Service{ContainerOptions: spec.ContainerOptions{
		Capabilities: []string{"CAP_NET_ADMIN"},
		Devices:      []spec.Device{{Path: "/dev/null", Write: &ro}},
	}}
	ctx := namespaces.WithNamespace(context.Background(), "test")
	var sp oci.Spec
	c := &containers.Container{ID: "x"}
	opts := append([]oci.SpecOpts{oci.WithDefaultSpecForPlatform("linux/amd64")}, containerOpts(s)...)
	if err := oci.ApplyOpts(ctx, nil, c, &sp, opts...); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sp.Process.Capabilities.Bounding, "CAP_NET_ADMIN") || !slices.Contains(sp.Process.Capabilities.Effective, "CAP_NET_ADMIN") {
		t.Errorf("capabilities %v", sp.Process.Capabilities.Bounding)
	}
	if slices.Contains(sp.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
		t.Error("an added capability brought CAP_SYS_ADMIN")
	}
	found := false
	for _, d := range sp.Linux.Devices {
		found = found || d.Path == "/dev/null"
	}
	allowed := false
	for _, r := range sp.Linux.Resources.Devices {
		if r.Allow && r.Access == "r" && r.Major != nil && *r.Major == 1 && r.Minor != nil && *r.Minor == 3 {
			allowed = true
		}
	}
	if !found || !allowed {
		t.Errorf("device /dev/null: in spec %v, allowed read-only %v (%+v)", found, allowed, sp.Linux.Resources.Devices)
	}

	var priv oci.Spec
	s = &spec.Service{ContainerOptions: spec.ContainerOptions{Privileged: true}}
	opts = append([]oci.SpecOpts{oci.WithDefaultSpecForPlatform("linux/amd64")}, containerOpts(s)...)
	if err := oci.ApplyOpts(ctx, nil, c, &priv, opts...); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(priv.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") || len(priv.Linux.Devices) == 0 {
		t.Errorf("privileged: %d capabilities, %d devices", len(priv.Process.Capabilities.Bounding), len(priv.Linux.Devices))
	}
	for _, m := range priv.Mounts {
		if m.Destination == "/sys" && slices.Contains(m.Options, "ro") {
			t.Error("privileged: /sys read-only")
		}
	}
}
