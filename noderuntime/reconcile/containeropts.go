package reconcile

import (
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// containerOpts shape a replica's container by the service's container
// options that are not the network's (hostname, dns, extra_hosts and
// port_mappings are: see the bridge). They come after the image config,
// so the spec's user wins over the image's.
func containerOpts(s *spec.Service) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if s.Privileged {
		// As docker run --privileged: every capability, every device of
		// the host, and /sys and the cgroup tree writable.
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices, oci.WithWriteableSysfs, oci.WithWriteableCgroupfs)
	}
	if len(s.Capabilities) > 0 {
		opts = append(opts, oci.WithAddedCapabilities(s.Capabilities))
	}
	for _, d := range s.Devices {
		opts = append(opts, oci.WithDevices(d.Path, d.Path, d.Permissions()))
	}
	if s.User != "" {
		// Names are looked up in the container's own /etc/passwd and
		// /etc/group, from its snapshot.
		opts = append(opts, oci.WithUser(s.User), oci.WithAdditionalGIDs(s.User))
	}
	return opts
}
