package spec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const good = `version: v1
deployment: shop
services:
  db:
    image: {name: 127.0.0.1:5000/library/busybox:latest, pull_policy: if_not_present}
    command:
      entrypoint: [/bin/busybox]
      args: [httpd, -f, -p, "8080"]
    health:
      interval: 1s
      check: {type: http, port: 8080, path: /}
    restart_policy: {kind: on_failure, max_attempts: 5, delay: 2s}
    resources: {cpu: 500m, memory: 256Mi}
    storage:
      - {type: tmpfs, target: /tmp, size: 64Mi}
      - {type: named, name: data, target: /data}
  web:
    image: busybox
    env: {A: 1, B: "two"}
    endpoints:
      - {name: http, port: 8080}
    scale: {replicas: 3}
    depends:
      - service: db
    network_mode: host
    node_selector: {disk: ssd, example.com/zone: eu-1, gen: 2}
`

func TestParseGood(t *testing.T) {
	d, err := Parse("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.StartOrder(), ","); got != "db,web" {
		t.Errorf("start order %s", got)
	}
	db, web := d.Services["db"], d.Services["web"]
	if db.Resources.CPU != 0.5 || db.Resources.Memory != 256<<20 {
		t.Errorf("resources %+v", db.Resources)
	}
	if db.Health.Interval.D() != time.Second || db.Health.Retries != 3 || db.Health.Timeout.D() != 5*time.Second {
		t.Errorf("health defaults %+v", db.Health)
	}
	if db.Storage[0].Size != 64<<20 {
		t.Errorf("tmpfs size %d", db.Storage[0].Size)
	}
	if web.Image.Name != "busybox" || web.Image.PullPolicy != "if_not_present" {
		t.Errorf("image %+v", web.Image)
	}
	if web.Env["A"] != "1" || web.Scale.Count() != 3 || web.RestartPolicy.Kind != "always" {
		t.Errorf("web %+v", web)
	}
	if web.Depends[0].Condition != "healthy" || web.Endpoints[0].TargetPort != 8080 || web.Endpoints[0].Protocol != "http" {
		t.Errorf("defaults %+v %+v", web.Depends, web.Endpoints)
	}
	// Scale does not change what a container is made of.
	h := web.Hash()
	five := 5
	web.Scale.Replicas = &five
	if web.Hash() != h {
		t.Error("scale changed the hash")
	}
	web.Env["A"] = "2"
	if web.Hash() == h {
		t.Error("env did not change the hash")
	}
}

func TestParseReportsAllErrorsWithPositions(t *testing.T) {
	bad := `version: v2
deployment: Shop_1
services:
  web:
    image: {name: busybox, pull_policy: sometimes}
    scale: {replicas: -1}
    colour: blue
    health:
      check: {type: http}
    depends:
      - service: nosuch
      - {service: api, condition: maybe}
    restart_policy: {kind: never, delay: soon}
    endpoints:
      - {name: a, port: 70000}
      - {name: a, port: 80}
    storage:
      - {type: bind, target: data}
  api:
    image: busybox
    depends: [{service: web}]
`
	_, err := Parse("bad.yaml", []byte(bad))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []string{
		"bad.yaml:1:10: version: must be one of v1",
		"bad.yaml:5:41: services.web.image.pull_policy: must be one of",
		"bad.yaml:6:23: services.web.scale.replicas: must be at least 0",
		"bad.yaml:7:5: services.web.colour: unknown key",
		"bad.yaml:12:35: services.web.depends[1].condition: must be one of started, healthy",
		"bad.yaml:13:28: services.web.restart_policy.kind: must be one of",
		"bad.yaml:13:42: services.web.restart_policy.delay: must be a duration",
		"bad.yaml:15:25: services.web.endpoints[0].port: must be at most 65535",
		"bad.yaml:2:13: deployment: \"Shop_1\" is not a valid name",
		"bad.yaml:9:14: services.web.health.check.port: required for a http check",
		"bad.yaml:16:16: services.web.endpoints[1].name: duplicate endpoint name",
		"bad.yaml:18:30: services.web.storage[0].target: must be an absolute path",
		"bad.yaml:18:9: services.web.storage[0].source: required for a bind mount",
		"bad.yaml:11:18: services.web.depends[0].service: unknown service \"nosuch\"",
		"bad.yaml:20:5: services.api.depends: dependency cycle: api -> web -> api",
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
	if len(es) != len(want) {
		t.Errorf("got %d errors, want %d:\n%s", len(es), len(want), msg)
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, err := Parse("s.yaml", []byte("version: v1\nservices:\n  web: [\n"))
	if err == nil || !strings.Contains(err.Error(), "s.yaml:") {
		t.Fatalf("got %v", err)
	}
}

func TestBridgeUnsupported(t *testing.T) {
	d, err := Parse("b.yaml", []byte("version: v1\ndeployment: x\nservices:\n  web:\n    image: busybox\n    network_mode: bridge\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckSupported(false); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "services.web.network_mode") {
		t.Fatalf("got %v", err)
	}
}
