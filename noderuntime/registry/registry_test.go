package registry

import "testing"

func TestMirrorsAndPlainHTTP(t *testing.T) {
	r := &Registries{
		Mirrors: map[string]Mirror{"docker.io": {Endpoint: []string{"http://10.0.0.5:5000"}}},
		Configs: map[string]HostConfig{"reg.lan:5000": {PlainHTTP: true}},
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
	if n, _ := Normalize("busybox"); n != "docker.io/library/busybox:latest" {
		t.Fatal(n)
	}
}
