package apitypes

import (
	"encoding/json"
	"time"
)

// LocalHeader, set to "1" by a server on a request it sends to another
// node, asks that node about its own replicas only (their logs, an exec).
const LocalHeader = "X-Zlayer-Local"

// Node states in `zlayer nodes`.
type NodeState string

const (
	NodeReady    NodeState = "ready"
	NodeNotReady NodeState = "not-ready"
	NodeCordoned NodeState = "cordoned"
	NodeDraining NodeState = "draining"
)

// Node is one node of the cluster in GET /v1/cluster/nodes.
type Node struct {
	Name     string            `json:"name"`
	Role     string            `json:"role"` // server or agent
	State    NodeState         `json:"state"`
	Address  string            `json:"address"`
	API      string            `json:"api"`
	Labels   map[string]string `json:"labels,omitempty"`
	Replicas int               `json:"replicas"`
	// Leader marks the server whose etcd member leads the cluster;
	// Scheduler the one placing replicas (often the same).
	Leader    bool      `json:"leader,omitempty"`
	Scheduler bool      `json:"scheduler,omitempty"`
	Subnet    string    `json:"subnet,omitempty"`
	Version   string    `json:"version,omitempty"`
	JoinedAt  time.Time `json:"joined_at,omitzero"`
	LastSeen  string    `json:"last_seen,omitempty"`
}

// NodeList is the answer of GET /v1/cluster/nodes.
type NodeList struct {
	Nodes []Node `json:"nodes"`
	// Servers voting in etcd, and how many of them may be lost with the
	// cluster still writable.
	Servers        int    `json:"servers"`
	FaultTolerance int    `json:"fault_tolerance"`
	Warning        string `json:"warning,omitempty"`
}

// TokenRequest is the body of POST /v1/cluster/tokens.
type TokenRequest struct {
	Role string `json:"role"`          // server or agent
	TTL  string `json:"ttl,omitempty"` // a Go duration; empty: no expiry
}

// Token is a join token: the whole token only in the answer that made it.
type Token struct {
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	Token     string    `json:"token,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Work is what a node is to run, the answer of GET /v1/cluster/agent/work:
// the cluster's deployments (store records as stored) and where each
// replica index is placed, as of an etcd revision.
type Work struct {
	Revision    int64             `json:"revision"`
	Deployments []json.RawMessage `json:"deployments"`
	Assignments []Assignment      `json:"assignments"`
	// ReadyElsewhere counts, by "deployment/service/spec-hash", the
	// replicas ready on other nodes (for depends_on).
	ReadyElsewhere map[string]int `json:"ready_elsewhere,omitempty"`
	// Servers are the API URLs of the cluster's servers.
	Servers []string `json:"servers"`
	// Subnets are the replica subnets of the ready nodes, with the address
	// each is reached at (host-gw routes).
	Subnets []NodeSubnet `json:"subnets,omitempty"`
	// Replicas are the replicas of the other ready nodes as they reported
	// them (Node and Address set): every node's ingress and discovery
	// reach them too.
	Replicas []ReplicaStatus `json:"replicas,omitempty"`
	// Certs are the ingress certificates the servers' node configs share
	// with the cluster, in order (a later one wins a host two name).
	Certs []IngressCert `json:"certs,omitempty"`
}

// IngressCert is a TLS certificate and its key, as PEM, for the hosts
// listed (default: the names in the certificate). Only nodes read it: the
// key is a secret.
type IngressCert struct {
	Hosts []string `json:"hosts,omitempty"`
	Cert  string   `json:"cert"`
	Key   string   `json:"key"`
}

// NodeSubnet is a node's replica subnet and its advertise address; in the
// wireguard network mode also its public key and endpoint (IP:port).
type NodeSubnet struct {
	Node      string `json:"node"`
	Subnet    string `json:"subnet"`
	Address   string `json:"address"`
	PublicKey string `json:"public_key,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"`
}

// ReplicaRef names one replica index of a service.
type ReplicaRef struct {
	Deployment string `json:"deployment"`
	Service    string `json:"service"`
	Index      int    `json:"index"`
}

// Assignment places a replica index on a node; From is the node it moves
// away from, which keeps running it until the new one is ready.
type Assignment struct {
	ReplicaRef
	Node string `json:"node"`
	From string `json:"from,omitempty"`
}

// Report is a node's heartbeat, POST /v1/cluster/agent/report: it keeps
// the node's lease and publishes its replicas.
type Report struct {
	Node     NodeInfo        `json:"node"`
	Replicas []ReplicaStatus `json:"replicas"`
}

// NodeInfo is what a node says of itself in its report.
type NodeInfo struct {
	Name        string            `json:"name"`
	Role        string            `json:"role"`
	Address     string            `json:"address"`
	API         string            `json:"api"`
	Labels      map[string]string `json:"labels,omitempty"`
	CPUs        int               `json:"cpus,omitempty"`
	MemoryBytes int64             `json:"memory_bytes,omitempty"`
	Version     string            `json:"version,omitempty"`
	// In the wireguard network mode: the node's public key (base64) and
	// the UDP port of its endpoint at Address.
	WireGuardKey  string `json:"wireguard_key,omitempty"`
	WireGuardPort int    `json:"wireguard_port,omitempty"`
}
