package buildx

import (
	"strings"
	"testing"
)

// A stream shaped like `buildx --progress rawjson`: vertices start and
// complete, one fails after printing to its log.
const stream = `#0 building with "zl" instance using remote driver
{"vertexes":[{"digest":"sha256:a","name":"[internal] load build definition from Dockerfile","started":"2026-01-01T00:00:00Z"}]}
{"vertexes":[{"digest":"sha256:a","name":"[internal] load build definition from Dockerfile","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"}]}
{"vertexes":[{"digest":"sha256:b","name":"[base 1/2] FROM docker.io/library/busybox","started":"2026-01-01T00:00:01Z"}]}
{"vertexes":[{"digest":"sha256:c","name":"[internal] load metadata","started":"2026-01-01T00:00:01Z"}]}
{"vertexes":[{"digest":"sha256:b","name":"[base 1/2] FROM docker.io/library/busybox","started":"2026-01-01T00:00:01Z","completed":"2026-01-01T00:00:02Z"},{"digest":"sha256:c","name":"[internal] load metadata","completed":"2026-01-01T00:00:02Z","started":"2026-01-01T00:00:01Z"}]}
{"vertexes":[{"digest":"sha256:d","name":"[base 2/2] RUN echo hi; exit 3","started":"2026-01-01T00:00:02Z"}]}
{"logs":[{"vertex":"sha256:d","stream":2,"data":"aGkKYm9vbQo=","timestamp":"2026-01-01T00:00:02Z"}]}
{"vertexes":[{"digest":"sha256:d","name":"[base 2/2] RUN echo hi; exit 3","started":"2026-01-01T00:00:02Z","completed":"2026-01-01T00:00:03Z","error":"process \"/bin/sh -c echo hi; exit 3\" did not complete successfully: exit code: 3"}]}
ERROR: target base: failed to solve: process "/bin/sh -c echo hi; exit 3" did not complete successfully: exit code: 3
`

func TestTracker(t *testing.T) {
	var steps, logs []string
	tr := NewTracker(func(s string) { steps = append(steps, s) }, func(l string) { logs = append(logs, l) })
	tr.Consume(strings.NewReader(stream))
	want := []string{
		"[internal] load build definition from Dockerfile",
		"[base 1/2] FROM docker.io/library/busybox",
		"[base 2/2] RUN echo hi; exit 3",
	}
	if strings.Join(steps, "|") != strings.Join(want, "|") {
		t.Errorf("steps\n%q\nwant\n%q", steps, want)
	}
	if strings.Join(logs, "|") != "hi|boom" {
		t.Errorf("logs %q", logs)
	}
	f := tr.Failure()
	for _, w := range []string{
		"[base 2/2] RUN echo hi; exit 3: process",
		"  | boom",
		"ERROR: target base: failed to solve",
	} {
		if !strings.Contains(f, w) {
			t.Errorf("failure\n%s\nlacks %q", f, w)
		}
	}
}

func TestTrackerNonJSONFailure(t *testing.T) {
	tr := NewTracker(nil, nil)
	tr.Consume(strings.NewReader("something\nfailed to dial builder\n"))
	if f := tr.Failure(); !strings.Contains(f, "failed to dial builder") {
		t.Errorf("failure %q", f)
	}
}

func TestParseDriver(t *testing.T) {
	out := "Name:          zl1\nDriver:        remote\nLast Activity: now\n\nNodes:\nName:     zl10\n"
	if d := parseDriver(out); d != "remote" {
		t.Errorf("driver %q", d)
	}
}
