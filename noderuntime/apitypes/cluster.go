package apitypes

// JoinRequest is the body of POST /v1/cluster/join, which a node sends to a
// server to join its cluster. The token is the credential (the request
// carries no bearer token); it is sent only over a connection verified
// against the CA whose hash the token holds.
type JoinRequest struct {
	Token   string            `json:"token"`
	CSR     string            `json:"csr"` // PEM certificate request for the node's key
	Name    string            `json:"name"`
	Role    string            `json:"role"`    // server | agent: must be the token's role
	Address string            `json:"address"` // the IP the node advertises
	Labels  map[string]string `json:"labels,omitempty"`
	PeerURL string            `json:"peer_url,omitempty"` // server joiners: their etcd peer URL
	// NetworkMode is the cluster network mode of the joiner's node config
	// (host-gw when empty); it must be the cluster's.
	NetworkMode string `json:"network_mode,omitempty"`
}

// JoinResponse is the answer to a granted join.
type JoinResponse struct {
	Certificate string `json:"certificate"` // PEM: the node's certificate
	CA          string `json:"ca"`          // PEM: the cluster CA
	// CAKey is the cluster CA's key (PEM), sent to server joiners only:
	// every server signs joiners' certificates.
	CAKey   string            `json:"ca_key,omitempty"`
	Servers []string          `json:"servers"` // API URLs of the cluster's servers
	Etcd    *EtcdJoin         `json:"etcd,omitempty"`
	Secrets map[string]string `json:"secrets,omitempty"` // server joiners: secrets every server shares
	Subnet  string            `json:"subnet,omitempty"`
}

// EtcdJoin is how a server joiner starts its etcd member as a learner.
type EtcdJoin struct {
	// MemberID is a string: etcd ids use all 64 bits, more than a JSON
	// number holds exactly in most decoders.
	MemberID       uint64   `json:"member_id,string"`
	InitialCluster string   `json:"initial_cluster"`
	Endpoints      []string `json:"endpoints"`
}

// Join refusal codes (Error.Code) of POST /v1/cluster/join.
const (
	JoinTokenMalformed  = "token_malformed"
	JoinTokenUnknown    = "token_unknown"
	JoinTokenRevoked    = "token_revoked"
	JoinTokenExpired    = "token_expired"
	JoinTokenWrongRole  = "token_wrong_role"
	JoinTokenCAMismatch = "token_ca_mismatch"
	JoinNameTaken       = "name_taken"
	JoinBusy            = "busy"
	JoinNetworkMismatch = "network_mismatch"
)
