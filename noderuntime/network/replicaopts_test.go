package network

import (
	"net"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

func TestPortMappingsAndExtraHostsReachCNI(t *testing.T) {
	b := &Bridge{gw: net.ParseIP("10.210.0.1"), opts: map[string]replicaOpts{
		"a": {Ports: []spec.PortMapping{{HostPort: 18080, ContainerPort: 80, Protocol: "tcp", HostIP: "0.0.0.0"}, {HostPort: 5353, ContainerPort: 53, Protocol: "udp", HostIP: "127.0.0.1"}}},
	}}
	rt := b.rt("a", "/run/netns/a")
	pm, _ := rt.CapabilityArgs["portMappings"].([]map[string]any)
	if len(pm) != 2 || pm[0]["hostPort"] != 18080 || pm[0]["containerPort"] != 80 || pm[0]["hostIP"] != "" || pm[1]["protocol"] != "udp" || pm[1]["hostIP"] != "127.0.0.1" {
		t.Errorf("portMappings %v", rt.CapabilityArgs)
	}
	if rt := b.rt("b", "/run/netns/b"); rt.CapabilityArgs != nil {
		t.Errorf("a replica without mappings got %v", rt.CapabilityArgs)
	}
	got := b.extraHosts([]string{"db.internal:192.0.2.20", "node:host-gateway"})
	if got[0] != [2]string{"192.0.2.20", "db.internal"} || got[1] != [2]string{"10.210.0.1", "node"} {
		t.Errorf("extra hosts %v", got)
	}
}
