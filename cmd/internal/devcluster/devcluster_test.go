package devcluster

import (
	"context"
	"strings"
	"testing"
)

func valid() Options {
	return Options{Name: "zlayer", Nodes: 3, Servers: 1, Image: "zlayer-node", Publish: []int{80, 443}, Address: "127.0.0.1", Dir: "/tmp/x"}
}

func TestCheckRefuses(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) { o.Name = "-x" }, `cluster name "-x"`},
		{func(o *Options) { o.Name = "a b" }, `cluster name "a b"`},
		{func(o *Options) { o.Nodes = 0 }, "--nodes 0: at least 1"},
		{func(o *Options) { o.Servers = 0 }, "--servers 0: between 1 and --nodes (3)"},
		{func(o *Options) { o.Servers = 4 }, "--servers 4: between 1 and --nodes (3)"},
		{func(o *Options) { o.PortBase = 70000 }, "--port-base 70000: not a port"},
		{func(o *Options) { o.PortBase = 20000; o.Nodes = 101; o.Servers = 1 }, "at most 100 nodes, not 101"},
		{func(o *Options) { o.PortBase = 65400 }, "--port-base 65400: the last node's ports would pass 65535"},
		{func(o *Options) { o.Publish = []int{3669} }, "--publish 3669: a port other than the API's 3669"},
		{func(o *Options) { o.Publish = []int{0} }, "--publish 0"},
		{func(o *Options) { o.Dir = "" }, "no folder"},
	} {
		o := valid()
		tc.edit(&o)
		err := o.check()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", o, err, tc.want)
		}
	}
	o := valid()
	if err := o.check(); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}

// Up refuses bad options before it runs docker at all: a docker that does
// not exist is never reached.
func TestUpChecksFirst(t *testing.T) {
	o := valid()
	o.Nodes, o.Docker = 0, "/nonexistent/docker"
	_, err := Up(context.Background(), o)
	if err == nil || strings.Contains(err.Error(), "nonexistent") {
		t.Fatalf("Up with --nodes 0: %v, want the option refused before docker runs", err)
	}
}

func TestHostPort(t *testing.T) {
	o := valid()
	if got := o.hostPort(1, 2); got != "" {
		t.Errorf("no --port-base: host port %q, want Docker's choice", got)
	}
	o.PortBase = 20000
	for _, tc := range []struct {
		k, i int
		want string
	}{{0, 1, "20000"}, {0, 3, "20002"}, {1, 1, "20100"}, {2, 3, "20202"}} {
		if got := o.hostPort(tc.k, tc.i); got != tc.want {
			t.Errorf("port %d of node %d: %s, want %s", tc.k, tc.i, got, tc.want)
		}
	}
}

func TestEnvLine(t *testing.T) {
	c := Cluster{APIURL: "https://127.0.0.1:32768", CAFile: "/home/a b/ca.crt", TokenFile: "/tmp/it's/token"}
	want := `export ZLAYER_HOST=https://127.0.0.1:32768 ZLAYER_TOKEN_FILE='/tmp/it'\''s/token' ZLAYER_CA_FILE='/home/a b/ca.crt'`
	if got := c.Env(); got != want {
		t.Errorf("env line:\n%s\nwant\n%s", got, want)
	}
}

func TestRedactToken(t *testing.T) {
	got := strings.Join(redact([]string{"run", "img", "join", "--token", "ZL10secret", "--server"}), " ")
	if strings.Contains(got, "secret") || got != "run img join --token *** --server" {
		t.Errorf("redacted: %s", got)
	}
}

func TestPublishArg(t *testing.T) {
	o := valid()
	if got := o.publishArg(1, 2, 80); got != "127.0.0.1::80" {
		t.Errorf("Docker's port on the loopback: %s", got)
	}
	o.PortBase = 20000
	if got := o.publishArg(1, 2, 80); got != "127.0.0.1:20101:80" {
		t.Errorf("fixed port on the loopback: %s", got)
	}
	o.Address = ""
	if got := o.publishArg(1, 2, 80); got != "20101:80" {
		t.Errorf("fixed port on every address: %s", got)
	}
	o.PortBase = 0
	if got := o.publishArg(0, 1, APIPort); got != "3669" {
		t.Errorf("Docker's port on every address: %s", got)
	}
}

func TestReachable(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:32768":   "127.0.0.1:32768",
		"[::]:32768":      "127.0.0.1:32768",
		":::32768":        "127.0.0.1:32768",
		"127.0.0.1:32768": "127.0.0.1:32768",
		"10.0.0.5:20000":  "10.0.0.5:20000",
	} {
		if got := reachable(in); got != want {
			t.Errorf("reachable(%s) = %s, want %s", in, got, want)
		}
	}
}
