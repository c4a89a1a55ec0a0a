package spec

// The words of a spec's enumerations, typed so that a comparison with a
// misspelt one does not compile. Their YAML and JSON spellings are the
// values; the schema (schema.go) lists the same words.

// NetworkMode is a service's network_mode.
type NetworkMode string

const (
	NetworkHost   NetworkMode = "host"   // the node's own network
	NetworkBridge NetworkMode = "bridge" // node networking (CNI bridge)
)

// DependsCondition is what a depends entry waits for.
type DependsCondition string

const (
	DependsStarted DependsCondition = "started"
	DependsHealthy DependsCondition = "healthy"
	// DependsCompleted waits for a job's run of its current spec (a cron
	// service's latest run) to have succeeded.
	DependsCompleted DependsCondition = "completed"
)

// RestartKind is a restart_policy's kind.
type RestartKind string

const (
	RestartNo            RestartKind = "no"
	RestartAlways        RestartKind = "always"
	RestartOnFailure     RestartKind = "on_failure"
	RestartUnlessStopped RestartKind = "unless_stopped"
)

// PullPolicy is an image's pull_policy.
type PullPolicy string

const (
	PullAlways       PullPolicy = "always"
	PullNewer        PullPolicy = "newer"
	PullIfNotPresent PullPolicy = "if_not_present"
	PullNever        PullPolicy = "never"
)
