package apitypes

import "time"

// RolloutState is what became of a rollout that stopped.
type RolloutState string

const (
	// RolloutPaused: a replacement was not ready within update.monitor;
	// no further replica is replaced until the next generation.
	RolloutPaused RolloutState = "paused"
	// RolloutRolledBack: this generation re-applied an earlier one's spec,
	// after a failed rollout (auto) or because it was asked to.
	RolloutRolledBack RolloutState = "rolled_back"
)

// RolloutStatus is DeploymentStatus.Rollout: set only when a rollout
// stopped short of the spec it was given.
type RolloutStatus struct {
	State   RolloutState `json:"state"`
	Service string       `json:"service,omitempty"` // whose replacement failed (paused)
	Message string       `json:"message"`
	// From and To are a rollback's generations: the one undone and the
	// one whose spec came back.
	From int64 `json:"from,omitempty"`
	To   int64 `json:"to,omitempty"`
	Auto bool  `json:"auto,omitempty"` // the node rolled back by itself
}

// GenerationCause is what made a generation.
type GenerationCause string

const (
	CauseDeploy   GenerationCause = "deploy"
	CauseScale    GenerationCause = "scale"
	CauseRollback GenerationCause = "rollback"
	CauseRestart  GenerationCause = "restart"
)

// Generation is one entry of GET /v1/deployments/{name}/history, oldest
// first.
type Generation struct {
	Generation int64           `json:"generation"`
	At         time.Time       `json:"at"`
	SpecHash   string          `json:"spec_hash"`
	Cause      GenerationCause `json:"cause"`
	// By is who asked: "socket" (the unix socket), "token:admin" (the
	// TCP API's admin token), "console:admin" (a web console session
	// opened with it) or "node" (the node's own rollback).
	By string `json:"by,omitempty"`
	// Current marks the generation the deployment is at.
	Current    bool           `json:"current"`
	RolledBack *RolledBackGen `json:"rolled_back,omitempty"`
}

// RolledBackGen is what a rollback generation undid.
type RolledBackGen struct {
	From   int64  `json:"from"`
	To     int64  `json:"to"`
	Reason string `json:"reason"`
	Auto   bool   `json:"auto,omitempty"`
}

// RollbackRequest is the body of POST /v1/deployments/{name}/rollback.
type RollbackRequest struct {
	// To is the generation to go back to; 0: the newest kept one before
	// the current that runs other replicas.
	To int64 `json:"to,omitempty"`
}
