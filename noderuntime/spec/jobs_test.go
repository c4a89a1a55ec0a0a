package spec

import (
	"strings"
	"testing"
	"time"
)

const jobsSpec = `version: v1
deployment: app
services:
  migrate:
    rtype: job
    image: busybox
  report:
    rtype: cron
    image: busybox
    schedule: "*/5 * * * *"
    concurrency: replace
    history: 3
    restart_policy: {kind: no}
  nightly:
    rtype: cron
    image: busybox
    schedule: "@daily"
  web:
    image: busybox
    depends:
      - service: migrate
        condition: completed
`

func TestJobsParse(t *testing.T) {
	d, err := Parse("j.yaml", []byte(jobsSpec))
	if err != nil {
		t.Fatal(err)
	}
	m := d.Services["migrate"]
	if m.Kind() != RtypeJob || !m.RunsToCompletion() || m.KeptRuns() != DefaultHistory {
		t.Fatalf("job: kind %s, keeps %d", m.Kind(), m.KeptRuns())
	}
	// A job left without a restart policy is retried a few times, not for ever.
	if m.RestartPolicy.Kind != RestartOnFailure || m.RestartPolicy.MaxAttempts != DefaultJobAttempts {
		t.Fatalf("job restart policy %+v", m.RestartPolicy)
	}
	if m.Concurrency != "" {
		t.Fatalf("job concurrency %q", m.Concurrency)
	}
	r := d.Services["report"]
	if r.Kind() != RtypeCron || r.Concurrency != ConcurrencyReplace || r.KeptRuns() != 3 || r.RestartPolicy.Kind != RestartNo {
		t.Fatalf("cron: %+v", r)
	}
	if n := d.Services["nightly"]; n.Concurrency != ConcurrencyForbid {
		t.Fatalf("cron default concurrency %q", n.Concurrency)
	}
	w := d.Services["web"]
	if w.Kind() != RtypeService || w.RunsToCompletion() || w.RestartPolicy.Kind != RestartAlways {
		t.Fatalf("service: kind %s, restart %+v", w.Kind(), w.RestartPolicy)
	}
	if w.Depends[0].Condition != DependsCompleted {
		t.Fatalf("depends condition %q", w.Depends[0].Condition)
	}
	if got := d.StartOrder(); strings.Join(got, ",") != "migrate,report,nightly,web" {
		t.Fatalf("start order %v", got)
	}
}

// TestJobsHash: rtype and schedule make different containers; a
// service of the default rtype hashes as it did before rtype existed,
// and concurrency and history roll nothing.
func TestJobsHash(t *testing.T) {
	parse := func(extra string) *Service {
		t.Helper()
		d, err := Parse("h.yaml", []byte("version: v1\ndeployment: d\nservices:\n  s:\n    image: busybox\n"+extra))
		if err != nil {
			t.Fatal(err)
		}
		return d.Services["s"]
	}
	plain, svc := parse(""), parse("    rtype: service\n")
	if plain.Hash() != svc.Hash() {
		t.Fatal("rtype service changed the hash")
	}
	job := parse("    rtype: job\n")
	cron1 := parse("    rtype: cron\n    schedule: '@hourly'\n")
	cron2 := parse("    rtype: cron\n    schedule: '@daily'\n")
	cron3 := parse("    rtype: cron\n    schedule: '@daily'\n    concurrency: allow\n    history: 9\n")
	if job.Hash() == plain.Hash() || cron1.Hash() == cron2.Hash() || cron1.Hash() == job.Hash() {
		t.Fatal("rtype or schedule left the hash alone")
	}
	if cron2.Hash() != cron3.Hash() {
		t.Fatal("concurrency or history moved the hash")
	}
}

func TestJobsErrorsAtPosition(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"bad schedule", "    rtype: cron\n    schedule: '61 * * * *'\n",
			`x.yaml:6:15: services.s.schedule: "61 * * * *" is not a cron schedule`},
		{"four fields", "    rtype: cron\n    schedule: '0 0 * *'\n",
			`x.yaml:6:15: services.s.schedule: "0 0 * *" is not a cron schedule`},
		{"seconds every", "    rtype: cron\n    schedule: '*/10 * * * * * *'\n",
			`x.yaml:6:15: services.s.schedule: "*/10 * * * * * *": the seconds field must be one second such as 0, not "*/10": a run starts at most once a minute`},
		{"a year", "    rtype: cron\n    schedule: '0 0 3 * * * 2030'\n",
			`x.yaml:6:15: services.s.schedule: "0 0 3 * * * 2030": a year field other than * is not supported by this node, got "2030"`},
		{"day zero with seconds", "    rtype: cron\n    schedule: '0 0 3 * * 0'\n",
			`x.yaml:6:15: services.s.schedule: "0 0 3 * * 0": day of week 0 is out of range`},
		{"too often", "    rtype: cron\n    schedule: '@every 10s'\n",
			`x.yaml:6:15: services.s.schedule: "@every 10s" ticks more often than once a minute`},
		{"schedule on a job", "    rtype: job\n    schedule: '@hourly'\n",
			`x.yaml:6:15: services.s.schedule: only for rtype cron (this service is rtype job)`},
		{"schedule on a service", "    schedule: '@hourly'\n",
			`x.yaml:5:15: services.s.schedule: only for rtype cron (this service is rtype service)`},
		{"cron without schedule", "    rtype: cron\n",
			`x.yaml:5:5: services.s.schedule: required for rtype cron`},
		{"concurrency on a job", "    rtype: job\n    concurrency: allow\n",
			`x.yaml:6:18: services.s.concurrency: only for rtype cron`},
		{"bad concurrency", "    rtype: cron\n    schedule: '@hourly'\n    concurrency: queue\n",
			`x.yaml:7:18: services.s.concurrency: must be one of forbid, allow, replace, got "queue"`},
		{"history on a service", "    history: 3\n",
			`x.yaml:5:14: services.s.history: only for rtype job or cron`},
		{"history bound", "    rtype: job\n    history: 101\n",
			`x.yaml:6:14: services.s.history: must be at most 100, got 101`},
		{"bad rtype", "    rtype: batch\n",
			`x.yaml:5:12: services.s.rtype: must be one of service, job, cron, got "batch"`},
		{"always", "    rtype: job\n    restart_policy: {kind: always}\n",
			`x.yaml:6:28: services.s.restart_policy.kind: a job runs to completion: use on_failure`},
		{"public endpoint", "    rtype: job\n    endpoints: [{name: e, port: 80, expose: public}]\n",
			`x.yaml:6:45: services.s.endpoints[0].expose: a job runs to completion and cannot serve the public`},
		{"health", "    rtype: cron\n    schedule: '@hourly'\n    health: {check: {type: tcp, port: 80}}\n",
			`x.yaml:7:13: services.s.health: a cron runs to completion: it has no health to check`},
		{"replicas", "    rtype: job\n    scale: {replicas: 2}\n",
			`x.yaml:6:23: services.s.scale.replicas: a job runs one replica per run`},
		{"update", "    rtype: job\n    update: {parallelism: 2}\n",
			`x.yaml:6:13: services.s.update: a job is not rolled`},
		{"completed on a service", "  t:\n    image: busybox\n    depends: [{service: s, condition: completed}]\n",
			`x.yaml:8:39: services.t.depends[0].condition: completed is for a dependency of rtype job or cron`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "version: v1\ndeployment: d\nservices:\n  s:\n    image: busybox\n"
			if strings.HasPrefix(tc.doc, "  t:") {
				doc += tc.doc
			} else {
				// The service's own keys go before image, so positions
				// count from line 5.
				doc = "version: v1\ndeployment: d\nservices:\n  s:\n" + tc.doc + "    image: busybox\n"
			}
			_, err := Parse("x.yaml", []byte(doc))
			if err == nil {
				t.Fatalf("accepted:\n%s", doc)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error\n%v\nwant it to contain\n%s", err, tc.want)
			}
		})
	}
}

func TestParseScheduleNext(t *testing.T) {
	sch, err := ParseSchedule("*/15 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if got, want := sch.Next(at), time.Date(2026, 1, 2, 3, 15, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("next %s, want %s", got, want)
	}
}
