package apitypes

import "time"

// RunState is where a run of a job or cron service is.
type RunState string

const (
	RunPending   RunState = "pending" // recorded, container not made yet
	RunRunning   RunState = "running"
	RunSucceeded RunState = "succeeded" // exited 0
	RunFailed    RunState = "failed"    // exited otherwise, retries used up
	RunSkipped   RunState = "skipped"   // a tick that started nothing (concurrency)
	RunStopped   RunState = "stopped"   // stopped before it ended (concurrency replace, a new spec)
	RunLost      RunState = "lost"      // its container went without an exit the node saw
)

// RunTrigger is what started a run.
type RunTrigger string

const (
	RunTriggerDeploy   RunTrigger = "deploy"   // a job's spec, new or changed
	RunTriggerSchedule RunTrigger = "schedule" // a cron tick
	RunTriggerManual   RunTrigger = "manual"   // zlayer job run
)

// Run is one run of a job or cron service: the answer of POST
// /v1/deployments/{name}/services/{service}/runs, and an entry of RunList.
type Run struct {
	// N numbers the service's runs from 1; it is also the replica number
	// of the run's container (zlayer logs SERVICE --replica N).
	N        int        `json:"n"`
	SpecHash string     `json:"spec_hash"`
	Trigger  RunTrigger `json:"trigger"`
	State    RunState   `json:"state"`
	Tick     time.Time  `json:"tick,omitzero"`
	Started  time.Time  `json:"started"`
	Ended    time.Time  `json:"ended,omitzero"`
	ExitCode *int       `json:"exit_code,omitempty"`
	Restarts int        `json:"restarts,omitempty"`
	Message  string     `json:"message,omitempty"`
}

// Active is whether r still runs (or is about to).
func (r *Run) Active() bool { return r.State == RunPending || r.State == RunRunning }

// RunList is GET /v1/deployments/{name}/services/{service}/runs: the kept
// runs of a job or cron service, newest first.
type RunList struct {
	Deployment string `json:"deployment"`
	Service    string `json:"service"`
	Rtype      string `json:"rtype"`
	Schedule   string `json:"schedule,omitempty"`
	// Next is the schedule's next tick on the node that runs it.
	Next time.Time `json:"next,omitzero"`
	Runs []Run     `json:"runs"`
}

// ServiceRuns is what a service's status says of a job or cron service.
type ServiceRuns struct {
	Rtype    string    `json:"rtype"`
	Schedule string    `json:"schedule,omitempty"`
	Next     time.Time `json:"next,omitzero"`
	Last     *Run      `json:"last,omitempty"`
}
