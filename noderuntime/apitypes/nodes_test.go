package apitypes

import (
	"encoding/json"
	"testing"
	"time"
)

func TestClusterGolden(t *testing.T) {
	yes := true
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	info := NodeInfo{Name: "a1", Role: "agent", Address: "10.213.0.5", API: "https://10.213.0.5:3669",
		Labels: map[string]string{"disk": "ssd"}, CPUs: 2, MemoryBytes: 1 << 30, Version: "v0.4.0",
		WireGuardKey: "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28=", WireGuardPort: 51871}
	checkGolden(t, map[string]any{
		"Node": Node{Name: "s1", Role: "server", State: NodeReady, Address: "10.213.0.2", API: "https://10.213.0.2:3669",
			Labels: map[string]string{"zone": "a"}, Replicas: 3, Leader: true, Scheduler: true, Subnet: "10.244.1.0/24",
			Version: "v0.4.0", JoinedAt: at, LastSeen: "2s ago"},
		"NodeList": NodeList{Nodes: []Node{{Name: "s1", Role: "server", State: NodeCordoned, Address: "10.213.0.2", API: "https://10.213.0.2:3669",
			Labels: map[string]string{"zone": "a"}, Replicas: 1, Leader: true, Scheduler: true, Subnet: "10.244.1.0/24", Version: "v1", JoinedAt: at, LastSeen: "now"}},
			Servers: 3, FaultTolerance: 1, Warning: "a server is not ready"},
		"TokenRequest": TokenRequest{Role: "agent", TTL: "24h"},
		"Token":        Token{ID: "abcdef", Role: "server", Token: "ZL10...", CreatedAt: at, ExpiresAt: at.Add(time.Hour), RevokedAt: at},
		"Work": Work{Revision: 42, Deployments: []json.RawMessage{json.RawMessage(`{}`)},
			Assignments:    []Assignment{{ReplicaRef: ReplicaRef{Deployment: "shop", Service: "web", Index: 2}, Node: "a1", From: "s3"}},
			ReadyElsewhere: map[string]int{"shop/db/a1b2": 1}, Servers: []string{"https://10.213.0.2:3669"},
			Subnets: []NodeSubnet{{Node: "a1", Subnet: "10.244.1.0/24", Address: "10.213.0.5",
				PublicKey: "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28=", Endpoint: "10.213.0.5:51871"}},
			Replicas: []ReplicaStatus{{ID: "shop-web-1-def", Deployment: "shop", Service: "web", Replica: 1,
				State: ReplicaReady, Healthy: &yes, Restarts: 1, LastExit: &ExitInfo{Code: 1, At: at, Signal: 15, OOMKilled: true}, PID: 9,
				Image: "busybox", ImageDigest: "sha256:1", SpecHash: "a1b2", Current: true, StartedAt: at, Message: "m", Address: "10.244.1.3", Node: "a1"}},
			Certs: []IngressCert{{Hosts: []string{"shop.example.com"}, Cert: "-----BEGIN CERTIFICATE-----\n...", Key: "-----BEGIN EC PRIVATE KEY-----\n..."}}},
		"Report": Report{Node: info, Replicas: []ReplicaStatus{{ID: "shop-web-2-abc", Deployment: "shop", Service: "web", Replica: 2,
			State: ReplicaReady, Healthy: &yes, Restarts: 1, LastExit: &ExitInfo{Code: 1, At: at, Signal: 15, OOMKilled: true}, PID: 7,
			Image: "busybox", ImageDigest: "sha256:1", SpecHash: "a1b2", Current: true, StartedAt: at, Message: "m", Address: "10.0.0.3", Node: "a1"}}},
		"NodeInfo":   info,
		"NodeStates": []NodeState{NodeReady, NodeNotReady, NodeCordoned, NodeDraining},
	})
}
