package spec

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/internal/yamldoc"
)

// mustRefuse parses doc and wants an error containing each of want
// ("file:line:col: path: message" fragments).
func mustRefuse(t *testing.T, doc string, want ...string) Errors {
	t.Helper()
	_, err := Parse("h.yaml", []byte(doc))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
	return es
}

// An alias reaches the decoder as its target's value, so the checks must see
// that value too, and report it where the alias is used.
func TestAliasedVolumeNameRefusedAtUseSite(t *testing.T) {
	doc := `version: v1
deployment: x
services:
  web:
    image: busybox
    env: {P: &evil "../../../etc"}
    storage:
      - {type: named, name: *evil, target: /data}
`
	mustRefuse(t, doc, `h.yaml:8:29: services.web.storage[0].name: "../../../etc" is not a valid name`)
}

func TestDependsByAlias(t *testing.T) {
	doc := `version: v1
deployment: x
services:
  &db db:
    image: busybox
  web:
    image: busybox
    depends:
      - service: *db
`
	d, err := Parse("h.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.StartOrder(), ","); got != "db,web" || d.Services["web"].Depends[0].Service != "db" {
		t.Errorf("start order %s, depends %+v", got, d.Services["web"].Depends)
	}
	// An alias to a value that names no service is refused like the value.
	unknown := `version: v1
deployment: x
services:
  web:
    image: busybox
    env: {Q: &nosuch nosuch}
    depends:
      - service: *nosuch
`
	mustRefuse(t, unknown, `h.yaml:8:18: services.web.depends[0].service: unknown service "nosuch"`)
}

func TestMergeKeysAreAppliedAndValidated(t *testing.T) {
	doc := `version: v1
deployment: x
services:
  web: &tmpl
    image: busybox
    env: {A: "1"}
    restart_policy: {kind: always, delay: 2s}
  worker:
    <<: *tmpl
    env: {B: "2"}
    scale: {replicas: 2}
`
	d, err := Parse("h.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	w := d.Services["worker"]
	if w.Image.Name != "busybox" || w.RestartPolicy.Delay.D() != 2*time.Second || w.Env["B"] != "2" || w.Env["A"] != "" || w.Scale.Count() != 2 {
		t.Errorf("worker %+v", w)
	}
	// Keys that come in through a merge are checked like written ones, at
	// the place they are written.
	bad := `version: v1
deployment: x
services:
  web:
    image: busybox
    labels: &l {zlayer.deployment: other}
  worker:
    image: busybox
    labels: {<<: *l, team: a}
    storage:
      - <<: {type: named, name: "../../etc"}
        target: /data
`
	mustRefuse(t, bad,
		`h.yaml:6:17: services.worker.labels.zlayer.deployment: label "zlayer.deployment": keys starting with "zlayer." are reserved`,
		`h.yaml:11:33: services.worker.storage[0].name: "../../etc" is not a valid name`)
}

// billionLaughs nests ten levels of ten aliases: 10^10 strings if expanded.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("version: v1\ndeployment: x\nservices:\n  web:\n    image: busybox\n    env: {L0: &l0 lol}\n    command:\n      args:\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "        - &l%d [", i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestBillionLaughsRefusedFast(t *testing.T) {
	start := time.Now()
	es := mustRefuse(t, billionLaughs(), "nodes via aliases")
	if es[0].Line == 0 || !errors.Is(es, yamldoc.ErrBudget) {
		t.Errorf("want a positioned budget error, got %v", es)
	}
	// The budget error is the proof of bounded work (expanding it all takes
	// hours); the time is only logged, machines here are shared and slow.
	t.Logf("refused in %s", time.Since(start))
}

func TestValuesOutOfRange(t *testing.T) {
	base := "version: v1\ndeployment: x\nservices:\n  web:\n    image: busybox\n"
	cases := []struct{ yaml, want string }{
		{"    resources: {cpu: .nan}", "resources.cpu: must be a number of cores"},
		{"    resources: {cpu: NaN}", "resources.cpu: must be a number of cores"},
		{"    resources: {cpu: Inf}", "resources.cpu: must be a number of cores"},
		{"    resources: {cpu: 1e400}", "resources.cpu: must be a number of cores"},
		{"    resources: {cpu: -1}", "resources.cpu: must be a number of cores"},
		{"    resources: {cpu: 1m}", "resources.cpu: must be a number of cores from 0.01"},
		{"    resources: {cpu: 100000}", "resources.cpu: must be a number of cores"},
		{"    resources: {memory: NaN}", "resources.memory: must be a size"},
		{"    resources: {memory: -5Mi}", "resources.memory: must be a size"},
		{"    resources: {memory: 1e30}", "resources.memory: must be a size"},
		{"    resources: {memory: 99999999999Ti}", "resources.memory: size \"99999999999Ti\" is too large"},
		{"    resources: {memory: 1Ki}", "resources.memory: must be at least 6291456 bytes"},
		{"    storage: [{type: tmpfs, target: /t, size: 0}]", "storage[0].size: must be at least 4096 bytes"},
		{"    scale: {replicas: 99999999999999999999}", "scale.replicas: is out of range"},
		{"    scale: {replicas: 1.5}", "scale.replicas: must be an integer"},
		{"    scale: {replicas: -1}", "scale.replicas: must be at least 0"},
		{"    scale: {replicas: .inf}", "scale.replicas: must be an integer"},
		{"    endpoints: [{name: a, port: 0}]", "endpoints[0].port: must be at least 1"},
		{"    endpoints: [{name: a, port: 9223372036854775808}]", "endpoints[0].port: is out of range"},
		{"    restart_policy: {kind: always, max_attempts: -3}", "max_attempts: must be at least 0"},
		{"    restart_policy: {kind: always, delay: 1ms}", "restart_policy.delay: must be at least 100ms, got 1ms"},
		{"    restart_policy: {kind: always, delay: 0s}", "restart_policy.delay: must be at least 100ms"},
		{"    restart_policy: {kind: always, delay: 10000000h}", "restart_policy.delay: must be a duration"},
		{"    restart_policy: {kind: always, delay: 48h}", "restart_policy.delay: must be at most 24h0m0s"},
		{"    health: {interval: 1ns, check: {type: tcp, port: 1}}", "health.interval: must be at least 100ms"},
		{"    health: {timeout: 1ms, check: {type: tcp, port: 1}}", "health.timeout: must be at least 100ms"},
		{"    health: {retries: 0, check: {type: tcp, port: 1}}", "health.retries: must be at least 1"},
		{"    health: {start_grace: -1s, check: {type: tcp, port: 1}}", "health.start_grace: must not be negative"},
		{"    storage: [{type: tmpfs, target: /t, readonly: 1}]", "readonly: must be true or false"},
		{"    labels: {ZLayer.Replica: '9'}", `keys starting with "zlayer." are reserved`},
		{"    labels: {zlayer.spec-hash: abc}", `keys starting with "zlayer." are reserved`},
		{"    env: {\"A=B\": c}", "env.A=B: \"A=B\" is not a valid environment variable name"},
		{"    storage: [{type: bind, source: /srv/../etc, target: /data}]", "storage[0].source: must be a clean path"},
		{"    storage: [{type: bind, source: srv, target: /data}]", "storage[0].source: must be an absolute path"},
		{"    storage: [{type: tmpfs, target: /data/../../x}]", "storage[0].target: must be a clean path"},
		{"    storage: [{type: tmpfs, target: /}]", "storage[0].target: cannot mount over the container's root"},
		{"    storage: [{type: tmpfs, name: data, target: /d}]", "storage[0].name: only for a named mount"},
		{"    command: {workdir: ../x}", "command.workdir: must be an absolute path"},
		{"    endpoints: [{name: a, port: 80, host: ../../etc/x}]", "host: \"../../etc/x\" is not a host name"},
		{"    endpoints: [{name: a, port: 80, path: /api/../admin}]", "path: must be a clean path"},
		{"    image: !!binary YnVzeWJveA==", "tag !!binary is not allowed"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			es := mustRefuse(t, base+c.yaml+"\n", c.want)
			for _, e := range es {
				if e.Line != 6 {
					t.Errorf("error not at line 6: %v", e)
				}
			}
		})
	}
	// What the floors allow stays allowed.
	ok := base + `    resources: {cpu: 10m, memory: 6Mi}
    restart_policy: {kind: always, delay: 100ms, max_attempts: 1000000}
    health: {interval: 100ms, timeout: 100ms, start_grace: 0s, check: {type: tcp, port: 1}}
    labels: {zlayerx: a, app.zlayer.io/x: b}
    storage: [{type: tmpfs, target: /t, size: 4Ki, readonly: yes}]
    endpoints: [{name: a, port: 80, host: "*.example.com", path: /api/}]
`
	if _, err := Parse("ok.yaml", []byte(ok)); err != nil {
		t.Fatal(err)
	}
}

func TestServiceAndDeploymentNamesAreOneRule(t *testing.T) {
	doc := "version: v1\ndeployment: ../x\nservices:\n  a_b:\n    image: busybox\n  a--b:\n    image: busybox\n  ok-1:\n    image: busybox\n"
	mustRefuse(t, doc, `h.yaml:2:13: deployment: "../x" is not a valid name`, `h.yaml:4:3: services.a_b: "a_b" is not a valid name`,
		`h.yaml:6:3: services.a--b: "a--b" is not a valid name`)
}

func TestErrorsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: v1\ndeployment: x\nservices:\n  web:\n    image: busybox\n    labels:\n")
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&b, "      zlayer.k%d: v\n", i)
	}
	es := mustRefuse(t, b.String(), "... and 400 more errors")
	if len(es) != MaxErrors+1 {
		t.Errorf("got %d errors", len(es))
	}
}

func TestSizeLimit(t *testing.T) {
	big := "version: v1\n#" + strings.Repeat("x", MaxBytes) + "\n"
	_, err := Parse("big.yaml", []byte(big))
	if !errors.Is(err, yamldoc.ErrTooLarge) || !strings.Contains(err.Error(), "big.yaml: larger than") {
		t.Fatalf("got %v", err)
	}
}

func TestEmptyAndMultiDocumentSpecs(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "---\n"} {
		mustRefuse(t, doc, "h.yaml: empty spec")
	}
	mustRefuse(t, "version: v1\n---\nversion: v1\n", "h.yaml:3:1: more than one document")
}
