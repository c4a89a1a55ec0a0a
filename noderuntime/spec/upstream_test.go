package spec

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

const upBase = "version: v1\ndeployment: x\nservices:\n"

func parseUp(t *testing.T, doc string, o ParseOptions) *Deployment {
	t.Helper()
	d, err := ParseWith("u.yaml", []byte(upBase+doc), o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// refuseUp parses doc and wants exactly the errors want (each a prefix
// of one error, in order).
func refuseUp(t *testing.T, doc string, o ParseOptions, want ...string) {
	t.Helper()
	_, err := ParseWith("u.yaml", []byte(upBase+doc), o)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	if len(es) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(es), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(es[i].Error(), w) {
			t.Errorf("error %d:\n got %s\nwant %s...", i, es[i], w)
		}
	}
}

func TestContainerOptionsParse(t *testing.T) {
	d := parseUp(t, `  web:
    image: busybox
    hostname: front
    dns: [192.0.2.53, "2001:db8::53"]
    extra_hosts: ["db.local:192.0.2.10", "node:host-gateway", "v6:2001:db8::1"]
    user: "1000:1000"
    privileged: true
    cap_add: [NET_ADMIN, CAP_SYS_TIME]
    devices:
      - path: /dev/net/tun
      - {path: /dev/fuse, write: false, mknod: true}
    port_mappings:
      - {host_port: 8080, container_port: 80}
      - {host_port: 5353, container_port: 53, protocol: udp, host_ip: 127.0.0.1}
    stop_signal: "3"
`, ParseOptions{})
	s := d.Services["web"]
	if s.Hostname != "front" || s.User != "1000:1000" || !s.Privileged {
		t.Errorf("hostname %q user %q privileged %v", s.Hostname, s.User, s.Privileged)
	}
	if !slices.Equal(s.DNS, []string{"192.0.2.53", "2001:db8::53"}) {
		t.Errorf("dns %v", s.DNS)
	}
	if n, ip := SplitExtraHost(s.ExtraHosts[2]); n != "v6" || ip != "2001:db8::1" {
		t.Errorf("extra host %q split into %q %q", s.ExtraHosts[2], n, ip)
	}
	// cap_add is read into capabilities, names with CAP_.
	if !slices.Equal(s.Capabilities, []string{"CAP_NET_ADMIN", "CAP_SYS_TIME"}) || s.CapAdd != nil {
		t.Errorf("capabilities %v cap_add %v", s.Capabilities, s.CapAdd)
	}
	if got := []string{s.Devices[0].Permissions(), s.Devices[1].Permissions()}; !slices.Equal(got, []string{"rw", "rm"}) {
		t.Errorf("device permissions %v", got)
	}
	want := []PortMapping{{8080, 80, "tcp", "0.0.0.0"}, {5353, 53, "udp", "127.0.0.1"}}
	if !slices.Equal(s.PortMappings, want) {
		t.Errorf("port mappings %v, want %v", s.PortMappings, want)
	}
	// A signal number is read as its name.
	if s.StopSignal != "SIGQUIT" {
		t.Errorf("stop_signal %q, want SIGQUIT", s.StopSignal)
	}
}

// The container options make containers, so they move the hash, and a
// service without them hashes as before.
func TestContainerOptionsInHash(t *testing.T) {
	plain := &Service{Image: Image{Name: "busybox"}}
	before := plain.Hash()
	named := &Service{Image: Image{Name: "busybox"}, ContainerOptions: ContainerOptions{Hostname: "a"}}
	if named.Hash() == before {
		t.Error("hostname did not move the hash")
	}
	empty := &Service{Image: Image{Name: "busybox"}, ContainerOptions: ContainerOptions{}}
	if empty.Hash() != before {
		t.Error("empty container options moved the hash")
	}
}

func TestContainerOptionsRefusedWithPositions(t *testing.T) {
	refuseUp(t, `  web:
    image: busybox
    hostname: front.example
    dns: [resolver]
    extra_hosts: ["nocolon", "db:999.1.1.1"]
    user: "a b"
    capabilities: [NET_FLY]
    cap_add: [NET_ADMIN]
    devices: [{path: /etc/passwd}]
    port_mappings:
      - {container_port: 80}
      - {host_port: 81, container_port: 80}
      - {host_port: 81, container_port: 82}
`, ParseOptions{},
		`u.yaml:11:5: services.web.cap_add: give capabilities or cap_add (another name for it), not both`,
		`u.yaml:6:15: services.web.hostname: "front.example" is not a hostname`,
		`u.yaml:7:11: services.web.dns[0]: "resolver" is not an IPv4 or IPv6 address`,
		`u.yaml:8:19: services.web.extra_hosts[0]: "nocolon": write NAME:IP`,
		`u.yaml:8:30: services.web.extra_hosts[1]: "db:999.1.1.1": write NAME:IP with an IPv4`,
		`u.yaml:9:11: services.web.user: "a b" is not a user`,
		`u.yaml:10:20: services.web.capabilities[0]: "NET_FLY" is not a Linux capability`,
		`u.yaml:12:22: services.web.devices[0].path: must be a device path under /dev`,
		`u.yaml:14:9: services.web.port_mappings[0].host_port: a port mapping without host_port (an ephemeral port) is not supported by this node`,
		`u.yaml:16:21: services.web.port_mappings[2].host_port: another mapping of this service already uses host port 81/tcp`,
	)
}

func TestEnvReferences(t *testing.T) {
	doc := `  web:
    image: busybox
    env:
      DB: $E:ZL_TEST_DB
      LIT: $$E:not-a-ref
      PLAIN: x
`
	env := map[string]string{"ZL_TEST_DB": "postgres://db"}
	lookup := func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	d := parseUp(t, doc, ParseOptions{LookupEnv: lookup})
	s := d.Services["web"]
	// The reference stays in the spec; the value is read at replica start.
	if s.Env["DB"] != "$E:ZL_TEST_DB" {
		t.Errorf("env DB %q", s.Env["DB"])
	}
	for k, want := range map[string]string{"DB": "postgres://db", "LIT": "$E:not-a-ref", "PLAIN": "x"} {
		if got, err := EnvValue(s.Env[k], lookup); err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", k, got, err, want)
		}
	}
	delete(env, "ZL_TEST_DB")
	if _, err := EnvValue(s.Env["DB"], lookup); err == nil || !strings.Contains(err.Error(), "ZL_TEST_DB") {
		t.Errorf("unset variable at start: %v", err)
	}
	refuseUp(t, doc, ParseOptions{LookupEnv: lookup},
		`u.yaml:7:11: services.web.env.DB: environment variable ZL_TEST_DB is not set on the node`)
	// Without a lookup (deploy --dry-run) only the form is checked.
	parseUp(t, doc, ParseOptions{})
	refuseUp(t, "  web:\n    image: busybox\n    env: {A: $E:, B: \"$E:X=Y\"}\n", ParseOptions{},
		`u.yaml:6:14: services.web.env.A: $E: needs a variable name after it`,
		`u.yaml:6:22: services.web.env.B: "X=Y" is not a valid environment variable name`)
}

func TestUpstreamHealthCheckURL(t *testing.T) {
	d := parseUp(t, `  full:
    image: busybox
    health:
      check: {type: http, url: "http://localhost:8081/healthz"}
  bare:
    image: busybox
    endpoints: [{name: web, port: 80, target_port: 8080}]
    health:
      check: {type: http, url: /health, expect_status: 204}
  tcp0:
    image: busybox
    endpoints: [{name: db, port: 5432}]
    health:
      check: {type: tcp, port: 0}
`, ParseOptions{})
	for name, want := range map[string]Check{
		"full": {Type: "http", Port: 8081, Path: "/healthz", ExpectStatus: 200},
		"bare": {Type: "http", Port: 8080, Path: "/health", ExpectStatus: 204},
		"tcp0": {Type: "tcp", Port: 5432},
	} {
		if got := d.Services[name].Health.Check; got.Type != want.Type || got.Port != want.Port || got.Path != want.Path || got.ExpectStatus != want.ExpectStatus || got.URL != "" {
			t.Errorf("%s: check %+v, want %+v", name, got, want)
		}
	}
	refuseUp(t, `  a:
    image: busybox
    health:
      check: {type: http, url: /health}
  b:
    image: busybox
    health:
      check: {type: http, url: "http://example.com/"}
  c:
    image: busybox
    health:
      check: {type: tcp, url: /x, port: 1}
  d:
    image: busybox
    health:
      check: {type: http, url: /x, port: 1}
`, ParseOptions{},
		`u.yaml:7:32: services.a.health.check.url: a bare path is checked on the first endpoint's port`,
		`u.yaml:11:32: services.b.health.check.url: must name the replica as localhost or 127.0.0.1`,
		`u.yaml:15:26: services.c.health.check.url: only for an http check`,
		`u.yaml:19:42: services.d.health.check.port: give url or port and path, not both`,
	)
}

func TestUpstreamShapesReadIntoOurs(t *testing.T) {
	d := parseUp(t, `  a:
    image: {name: busybox, pull_policy: newer}
    host_network: true
    node_selector: {labels: {disk: ssd}}
    scale: {mode: manual}
    depends:
      - {service: b, condition: started, on_timeout: continue, timeout: 10s}
    stop_grace_period: 30s
  b:
    image: busybox
    network_mode: default
    depends: []
`, ParseOptions{DefaultNetworkMode: NetworkBridge})
	a, b := d.Services["a"], d.Services["b"]
	if a.Image.PullPolicy != PullNewer || a.NetworkMode != NetworkHost || a.NodeSelector["disk"] != "ssd" || len(a.NodeSelector) != 1 {
		t.Errorf("a: pull %q network %q selector %v", a.Image.PullPolicy, a.NetworkMode, a.NodeSelector)
	}
	if a.Scale.Mode != ScaleManual || a.Scale.Count() != 0 {
		t.Errorf("a: scale %q %d, want manual 0", a.Scale.Mode, a.Scale.Count())
	}
	if dep := a.Depends[0]; dep.OnTimeout != OnTimeoutContinue || dep.Timeout.D() != 10*time.Second {
		t.Errorf("a: depends %+v", dep)
	}
	if b.NetworkMode != NetworkBridge {
		t.Errorf("b: network_mode default gave %q, want the node's", b.NetworkMode)
	}
	if d2 := parseUp(t, "  c:\n    image: busybox\n    depends: [{service: d}]\n  d:\n    image: busybox\n", ParseOptions{}); d2.Services["c"].Depends[0].OnTimeout != OnTimeoutFail {
		t.Errorf("on_timeout default %q", d2.Services["c"].Depends[0].OnTimeout)
	}
}

// Every upstream key this node lacks is refused as not supported, where
// it is written; a misspelt key is still an unknown key.
func TestUpstreamKeysNotSupported(t *testing.T) {
	refuseUp(t, `  web:
    image: {name: busybox, source_policy: remote_only}
    network: {join: {mode: open}}
    init: {steps: [{id: m, uses: init.run, with: {command: x}}]}
    tty: true
    resources: {cpu: 1, gpu: {count: 1}}
    endpoints:
      - {name: a, protocol: websocket, port: 80}
      - {name: b, protocol: tcp, port: 81, stream: {tls: true}}
    scale: {mode: adaptive, min: 1, max: 5}
    storage:
      - {type: anonymous, target: /cache}
      - {type: named, name: v, target: /data, tier: local}
    depends: [{service: db, condition: ready}]
    network_mode: none
    node_selector: {labels: {a: b}, prefer_labels: {c: d}}
    imagee: typo
  db:
    image: busybox
externals: {}
`, ParseOptions{},
		"u.yaml:18:19: services.web.network_mode: network_mode none is not supported by this node",
		"u.yaml:13:19: services.web.scale.mode: scale.mode adaptive is not supported by this node",
		"u.yaml:19:37: services.web.node_selector.prefer_labels: prefer_labels is not supported by this node",
		"u.yaml:11:29: services.web.endpoints[0].protocol: protocol websocket is not supported by this node",
		"u.yaml:15:16: services.web.storage[0].type: storage type anonymous is not supported by this node",
		"u.yaml:17:40: services.web.depends[0].condition: condition ready is not supported by this node",
		"u.yaml:7:34: services.web.init.steps[0].uses: uses init.run is not supported by this node",
		"u.yaml:5:28: services.web.image.source_policy: source_policy is not supported by this node",
		"u.yaml:6:5: services.web.network: network is not supported by this node",
		"u.yaml:8:5: services.web.tty: tty is not supported by this node",
		"u.yaml:9:25: services.web.resources.gpu: gpu is not supported by this node",
		"u.yaml:12:44: services.web.endpoints[1].stream: stream is not supported by this node",
		"u.yaml:16:47: services.web.storage[1].tier: tier is not supported by this node",
		`u.yaml:20:5: services.web.imagee: unknown key "imagee"`,
		"u.yaml:23:1: externals: externals is not supported by this node",
	)
}

// On the host network a replica shares the node's ports and /etc/hosts:
// mappings that move a port, and extra hosts, are refused by the node.
func TestUpstreamOptionsOnTheHostNetwork(t *testing.T) {
	d := parseUp(t, `  same:
    image: busybox
    port_mappings: [{host_port: 80, container_port: 80}]
  moved:
    image: busybox
    port_mappings: [{host_port: 8080, container_port: 80}]
    extra_hosts: ["db:192.0.2.1"]
`, ParseOptions{DefaultNetworkMode: NetworkHost})
	err := d.CheckSupported(true)
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("CheckSupported: %v", err)
	}
	for _, want := range []string{"services.moved.port_mappings: host port 8080 to 80 needs network_mode: bridge", "services.moved.extra_hosts: needs network_mode: bridge"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "services.same") {
		t.Errorf("an unmoved port refused: %v", err)
	}
}

func TestInitSteps(t *testing.T) {
	d := parseUp(t, `  api:
    image: busybox
    init:
      steps:
        - id: db-up
          uses: init.wait_tcp
          with: {host: db, port: 5432}
          retry: 2
        - id: web-up
          uses: init.wait_http
          with: {url: "http://web:8080/ready", expect_status: 204}
          timeout: 5s
          on_failure: warn
`, ParseOptions{})
	st := d.Services["api"].Init.Steps
	if len(st) != 2 || st[0].With["port"] != "5432" || st[0].Retry != 2 || st[0].Timeout.D() != DefaultInitTimeout || st[0].OnFailure != OnTimeoutFail {
		t.Errorf("step 0: %+v", st)
	}
	if st[1].Uses != InitWaitHTTP || st[1].Timeout.D() != 5*time.Second || st[1].OnFailure != OnTimeoutWarn {
		t.Errorf("step 1: %+v", st[1])
	}
	// Init steps shape how replicas start: changing them rolls.
	if d.Services["api"].Hash() == (&Service{Image: Image{Name: "busybox"}}).Hash() {
		t.Error("init steps left the hash alone")
	}
	refuseUp(t, `  api:
    image: busybox
    init:
      steps:
        - {id: a, uses: init.wait_tcp, with: {host: db}}
        - {id: b, uses: init.wait_tcp, with: {host: db, port: 70000, path: /x}}
        - {id: c, uses: init.wait_http, with: {url: "ftp://x/", expect_status: 99}}
`, ParseOptions{},
		"u.yaml:8:46: services.api.init.steps[0].with.port: required for init.wait_tcp",
		`u.yaml:9:70: services.api.init.steps[1].with.path: unknown key "path" for init.wait_tcp (allowed: host, port)`,
		`u.yaml:9:63: services.api.init.steps[1].with.port: must be an integer from 1 to 65535, got "70000"`,
		`u.yaml:10:53: services.api.init.steps[2].with.url: must be an http:// or https:// URL, got "ftp://x/"`,
		`u.yaml:10:80: services.api.init.steps[2].with.expect_status: must be an integer from 100 to 599, got "99"`,
	)
}
