// Package apitypes is the node API's wire format: the JSON bodies the server
// (noderuntime/api) writes and the client (noderuntime/apiclient) reads. Both
// sides import these types and nothing of each other, so a change to the
// controller's or the server's own structs cannot change the API unnoticed;
// a change here fails the golden test of this package.
package apitypes

import "time"

// Error is the JSON body of every error response.
type Error struct {
	Code    string      `json:"code"`
	Message string      `json:"message"`
	Errors  []SpecError `json:"errors,omitempty"`
}

// SpecError is one problem of an invalid spec, at its place in the file.
// The field names are the wire names (untagged Go names, as the API has
// always sent them).
type SpecError struct {
	File   string `json:"File"`
	Line   int    `json:"Line"`
	Column int    `json:"Column"`
	Path   string `json:"Path"` // e.g. services.web.scale.replicas
	Msg    string `json:"Msg"`
}

// ApplyRequest is the JSON form of POST /v1/deployments; a YAML body is
// accepted too.
type ApplyRequest struct {
	File string `json:"file,omitempty"` // name used in error positions
	Spec string `json:"spec"`           // YAML text
}

// ScaleRequest is the body of POST .../services/{service}/scale.
type ScaleRequest struct {
	Replicas *int `json:"replicas"`
}

// ExecRequest is the body of POST .../services/{service}/exec, or its
// ExecHeader when the body is the command's stdin.
type ExecRequest struct {
	Command []string `json:"command"`
	Replica int      `json:"replica,omitempty"`
	// TTY runs the command on a terminal of Size (interactive exec only:
	// a terminal needs the upgraded stream for its resizes).
	TTY  bool      `json:"tty,omitempty"`
	Size *TermSize `json:"size,omitempty"`
}

// TermSize is a terminal's size in characters: an interactive exec's first
// size, and the payload of its resize frames.
type TermSize struct {
	Cols uint16 `json:"cols"`
	Rows uint16 `json:"rows"`
}

// ExecHeader carries the ExecRequest (JSON) when the request body is the
// command's stdin.
const ExecHeader = "X-Zlayer-Exec"

// VersionHeader carries the node's change version with a deployment's
// status: handed back as ?since=, the request waits until the node's state
// moves past it.
const VersionHeader = "X-Zlayer-Version"

// Output streams of ExecFrame and LogEntry.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// ExecFrame is one line of an exec response stream: output, or the last
// frame with the exit code.
type ExecFrame struct {
	Stream   string `json:"stream,omitempty"`
	Data     string `json:"data,omitempty"`
	ExitCode *int   `json:"exit_code,omitempty"`
	Error    string `json:"error,omitempty"`
}

// LogEntry is one line of a replica's output.
type LogEntry struct {
	Replica int       `json:"replica"`
	ID      string    `json:"id"`
	Time    time.Time `json:"time,omitzero"`
	Stream  string    `json:"stream,omitempty"`
	Log     string    `json:"log"`
	// Partial marks a line that did not end with a newline: the last
	// output of a replica that stopped mid-line, or a piece of a line
	// longer than logfile.MaxJoined (the next entry of its stream goes on).
	Partial bool `json:"partial,omitempty"`
}

// ReplicaState is what a replica is doing.
type ReplicaState string

const (
	ReplicaCreating   ReplicaState = "creating"
	ReplicaRunning    ReplicaState = "running"   // started, health unknown or no check
	ReplicaReady      ReplicaState = "ready"     // running and healthy (or no check)
	ReplicaUnhealthy  ReplicaState = "unhealthy" // running, check failing
	ReplicaExited     ReplicaState = "exited"    // exited, no restart pending
	ReplicaRestarting ReplicaState = "restarting"
	ReplicaCrashLoop  ReplicaState = "crash_loop"
	ReplicaFailed     ReplicaState = "failed" // could not be created (pull, spec)
	ReplicaStopping   ReplicaState = "stopping"
	ReplicaUnknown    ReplicaState = "unknown" // lost contact with containerd
)

// ServiceState sums up the replicas of a service.
type ServiceState string

const (
	ServiceReady       ServiceState = "ready"
	ServiceProgressing ServiceState = "progressing"
	ServiceWaiting     ServiceState = "waiting" // no replica yet, a message says why
	ServiceCrashLoop   ServiceState = "crash_loop"
	ServiceFailed      ServiceState = "failed"
)

// Stuck reports the states in which a service will not get ready without
// a change: the node keeps retrying, but a user waiting should hear of it.
func (s ServiceState) Stuck() bool { return s == ServiceFailed || s == ServiceCrashLoop }

// ExitInfo is a replica's last exit.
type ExitInfo struct {
	Code      int       `json:"code"`
	At        time.Time `json:"at"`
	Signal    int       `json:"signal,omitempty"`
	OOMKilled bool      `json:"oom_killed,omitempty"`
}

// ReplicaStatus is one replica, as GET /v1/replicas and the deployment
// status list it.
type ReplicaStatus struct {
	ID          string       `json:"id"`
	Deployment  string       `json:"deployment"`
	Service     string       `json:"service"`
	Replica     int          `json:"replica"`
	State       ReplicaState `json:"state"`
	Healthy     *bool        `json:"healthy,omitempty"`
	Restarts    int          `json:"restarts"`
	LastExit    *ExitInfo    `json:"last_exit,omitempty"`
	PID         uint32       `json:"pid,omitempty"`
	Image       string       `json:"image"`
	ImageDigest string       `json:"image_digest,omitempty"`
	SpecHash    string       `json:"spec_hash"`
	Current     bool         `json:"current"` // runs the latest spec
	StartedAt   time.Time    `json:"started_at,omitzero"`
	Message     string       `json:"message,omitempty"`
	Address     string       `json:"address,omitempty"`
	// Node runs the replica (cluster mode; absent on a single node).
	Node string `json:"node,omitempty"`
}

// ServiceStatus sums up a service.
type ServiceStatus struct {
	Name     string          `json:"name"`
	Desired  int             `json:"desired"`
	Ready    int             `json:"ready"`
	State    ServiceState    `json:"state"`
	Message  string          `json:"message,omitempty"`
	Replicas []ReplicaStatus `json:"replicas"`
	// Runs is set for a job or cron service: its last run and next tick.
	Runs *ServiceRuns `json:"runs,omitempty"`
}

// DeploymentStatus sums up a deployment: the answer of apply, scale and
// GET /v1/deployments[/{name}].
type DeploymentStatus struct {
	Name       string          `json:"name"`
	Generation int64           `json:"generation"`
	UpdatedAt  time.Time       `json:"updated_at"`
	Ready      bool            `json:"ready"`
	Services   []ServiceStatus `json:"services"`
	// Rollout is set when a rollout paused or was rolled back.
	Rollout *RolloutStatus `json:"rollout,omitempty"`
}

// Validated is POST /v1/deployments?dry_run=1's answer for a spec an
// apply would accept; nothing was stored. A refused spec gets the apply's
// error (422 with the positions of its errors).
type Validated struct {
	Valid      bool   `json:"valid"`
	Deployment string `json:"deployment"`
}

// Deleted is the answer of DELETE /v1/deployments/{name}.
type Deleted struct {
	Deleted string `json:"deleted"`
}

// ImportedImage is one image POST /v1/images/import created.
type ImportedImage struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// Health is the answer of /health/live and /health/ready.
type Health struct {
	Status string `json:"status"`
}
