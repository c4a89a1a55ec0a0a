package registry

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMirrorsAndPlainHTTP(t *testing.T) {
	p := filepath.Join(t.TempDir(), "node.yaml")
	os.WriteFile(p, []byte("mirrors:\n  docker.io:\n    endpoint: [\"http://10.0.0.5:5000\"]\nconfigs:\n  reg.lan:5000:\n    plain_http: true\n"), 0o600)
	r, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := r.Hosts("docker.io")
	if len(h) != 2 || h[0].Host != "10.0.0.5:5000" || h[0].Scheme != "http" || h[1].Host != "registry-1.docker.io" || h[1].Scheme != "https" {
		t.Fatalf("docker.io hosts %+v", h)
	}
	if h, _ := r.Hosts("reg.lan:5000"); h[0].Scheme != "http" {
		t.Fatalf("plain http %+v", h)
	}
	if h, _ := r.Hosts("127.0.0.1:5000"); h[0].Scheme != "http" {
		t.Fatalf("loopback %+v", h)
	}
	if h, _ := r.Hosts("ghcr.io"); h[0].Scheme != "https" {
		t.Fatalf("https %+v", h)
	}
	os.WriteFile(p, []byte("mirorrs: {}\n"), 0o600)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "mirorrs") {
		t.Fatalf("unknown key: %v", err)
	}
	if n, _ := Normalize("busybox"); n != "docker.io/library/busybox:latest" {
		t.Fatal(n)
	}
}

func TestExampleNodeConfig(t *testing.T) {
	r, err := Load("../../examples/deploy/node-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := r.Hosts("docker.io")
	if h[0].Host != "registry.lan:5000" || h[0].Scheme != "http" {
		t.Fatalf("%+v", h[0])
	}
}
