package spec

// Jobs and cron services: rtype, schedule, concurrency and history, and
// the checks that only make sense for them. They are kept apart from the
// rest of the spec so that what a run-to-completion service may say is
// read in one place.

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Rtype is a service's rtype: what its replicas are for.
type Rtype string

const (
	// RtypeService runs for ever and is restarted by its policy.
	RtypeService Rtype = "service"
	// RtypeJob runs to completion once per version of its spec.
	RtypeJob Rtype = "job"
	// RtypeCron runs to completion on every tick of its schedule.
	RtypeCron Rtype = "cron"
)

// Concurrency is what a cron tick does while an earlier run still runs.
type Concurrency string

const (
	// ConcurrencyForbid skips the tick (and records the skip).
	ConcurrencyForbid Concurrency = "forbid"
	// ConcurrencyAllow starts the new run beside the running ones, up to
	// the history bound (every running run keeps its record).
	ConcurrencyAllow Concurrency = "allow"
	// ConcurrencyReplace stops the running runs and starts the new one.
	ConcurrencyReplace Concurrency = "replace"
)

// DefaultHistory is how many runs a job or cron service keeps when the
// spec does not say: enough to see a pattern in failures, few enough
// that the stopped containers and their logs stay small.
const DefaultHistory = 5

// MaxHistory bounds history: each kept run is a stopped container with
// its snapshot and log on the node.
const MaxHistory = 100

// DefaultJobAttempts is the max_attempts of a job whose restart_policy is
// left out: a job that cannot succeed is given up, not retried for ever.
const DefaultJobAttempts = 3

// RunsToCompletion says whether s is a job or a cron service, whose
// replicas are runs that end, not replicas kept running.
func (s *Service) RunsToCompletion() bool {
	return s.Rtype == RtypeJob || s.Rtype == RtypeCron
}

// Kind is s's rtype, service when the spec leaves it out.
func (s *Service) Kind() Rtype {
	if s.Rtype == "" {
		return RtypeService
	}
	return s.Rtype
}

// KeptRuns is how many runs s keeps (its history, default filled in).
func (s *Service) KeptRuns() int {
	if s.History <= 0 {
		return DefaultHistory
	}
	return s.History
}

var scheduleRule = &rule{check: checkSchedule}

// applyRunDefaults fills in what jobs and cron services get by default:
// concurrency forbid, and a restart policy of on_failure with
// DefaultJobAttempts attempts (always, the default of services, would
// never let a run end).
func (s *Service) applyRunDefaults(kindGiven bool) {
	if !s.RunsToCompletion() {
		return
	}
	if s.Rtype == RtypeCron && s.Concurrency == "" {
		s.Concurrency = ConcurrencyForbid
	}
	if !kindGiven {
		s.RestartPolicy.Kind = RestartOnFailure
		if s.RestartPolicy.MaxAttempts == 0 {
			s.RestartPolicy.MaxAttempts = DefaultJobAttempts
		}
	}
}

// runs checks what only jobs and cron services may say, and what they may
// not (v is the service at p): a schedule for cron and only for cron, a
// restart policy that lets a run end, no public endpoints, no health
// check, one replica at a time.
func (c *checker) runs(v *yaml.Node, p string) {
	kind := RtypeService
	if t := mapGet(v, "rtype"); t != nil && t.Kind == yaml.ScalarNode {
		kind = Rtype(t.Value)
	}
	sch := mapGet(v, "schedule")
	switch {
	case kind == RtypeCron && sch == nil:
		c.add(v, p+".schedule", "required for rtype cron")
	case kind != RtypeCron && sch != nil:
		c.add(sch, p+".schedule", "only for rtype cron (this service is rtype %s)", kind)
	}
	if n := mapGet(v, "concurrency"); n != nil && kind != RtypeCron {
		c.add(n, p+".concurrency", "only for rtype cron (this service is rtype %s)", kind)
	}
	if kind == RtypeService {
		if n := mapGet(v, "history"); n != nil {
			c.add(n, p+".history", "only for rtype job or cron")
		}
		return
	}
	if rp := mapGet(v, "restart_policy"); rp != nil {
		if k := mapGet(rp, "kind"); k != nil && (k.Value == string(RestartAlways) || k.Value == string(RestartUnlessStopped)) {
			c.add(k, p+".restart_policy.kind", "a %s runs to completion: use on_failure (retried up to max_attempts) or no, not %s", kind, k.Value)
		}
	}
	if eps := mapGet(v, "endpoints"); eps != nil && eps.Kind == yaml.SequenceNode {
		for j, ep := range eps.Content {
			if e := mapGet(ep, "expose"); e != nil && e.Value == "public" {
				c.add(e, fmt.Sprintf("%s.endpoints[%d].expose", p, j), "a %s runs to completion and cannot serve the public: use expose internal", kind)
			}
		}
	}
	if h := mapGet(v, "health"); h != nil {
		c.add(h, p+".health", "a %s runs to completion: it has no health to check", kind)
	}
	if sc := mapGet(v, "scale"); sc != nil {
		if r := mapGet(sc, "replicas"); r != nil && r.Value != "1" && r.Value != "0" {
			c.add(r, p+".scale.replicas", "a %s runs one replica per run: give 1 (the default) or 0 (no runs), got %s", kind, r.Value)
		}
	}
	if u := mapGet(v, "update"); u != nil {
		c.add(u, p+".update", "a %s is not rolled: each run uses the spec it started with", kind)
	}
}

// dependsOnRuns checks a depends entry (dep, at dp) on target, a
// service of the same deployment (tv, its node): completed is only for a
// job or cron, which have no health; healthy on them means completed.
func (c *checker) dependsOnRuns(dep, tv *yaml.Node, dp string) {
	cond := mapGet(dep, "condition")
	if cond == nil || cond.Value != string(DependsCompleted) {
		return
	}
	kind := RtypeService
	if t := mapGet(tv, "rtype"); t != nil && t.Kind == yaml.ScalarNode {
		kind = Rtype(t.Value)
	}
	if kind == RtypeService {
		c.add(cond, dp+".condition", "completed is for a dependency of rtype job or cron; use started or healthy")
	}
}
