package push

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
)

func TestNormalize(t *testing.T) {
	cases := map[string]string{
		"busybox":                      "docker.io/library/busybox:latest",
		"me/app:1":                     "docker.io/me/app:1",
		"127.0.0.1:5000/acme/base:1.0": "127.0.0.1:5000/acme/base:1.0",
		"localhost/x":                  "localhost/x:latest",
		"ghcr.io/org/img":              "ghcr.io/org/img:latest",
		"reg.io/a@sha256:abc":          "reg.io/a@sha256:abc",
		"127.0.0.1:5000/a/b:dev":       "127.0.0.1:5000/a/b:dev",
	}
	for in, want := range cases {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for h, want := range map[string]bool{"127.0.0.1:5000": true, "localhost:1": true, "[::1]:80": true, "ghcr.io": false, "10.0.0.1:5000": false} {
		if isLoopback(h) != want {
			t.Errorf("isLoopback(%q) != %v", h, want)
		}
	}
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	auth := base64.StdEncoding.EncodeToString([]byte("u:p:w"))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths":{"reg.io":{"auth":"`+auth+`"},"https://other.io":{"username":"a","password":"b"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if u, p, _ := credentials("reg.io"); u != "u" || p != "p:w" {
		t.Errorf("reg.io: %q %q", u, p)
	}
	if u, p, _ := credentials("other.io"); u != "a" || p != "b" {
		t.Errorf("other.io: %q %q", u, p)
	}
	if u, _, _ := credentials("none.io"); u != "" {
		t.Errorf("none.io: %q", u)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:aa","size":3}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := Find(dir, ""); err != nil || d.Digest != "sha256:aa" {
		t.Errorf("%v %v", d, err)
	}
	if _, err := Find(dir, "sha256:bb"); err == nil {
		t.Error("found a digest that is not there")
	}
}
