package pipeline_test

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ociTar reads an OCI layout tar and returns its index.json and the names in it.
func ociTar(t *testing.T, path string) (index map[string]any, names map[string]bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no OCI tar: %v", err)
	}
	defer f.Close()
	names = map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not a tar: %v", path, err)
		}
		names[h.Name] = true
		if h.Name == "index.json" {
			b, _ := io.ReadAll(tr)
			if err := json.Unmarshal(b, &index); err != nil {
				t.Fatalf("index.json: %v", err)
			}
		}
	}
	if index == nil || !names["oci-layout"] {
		t.Fatalf("%s is not an OCI layout (names %v)", path, names)
	}
	return index, names
}

// Each backend builds both file kinds; --target and --build-arg reach the
// build; --output type=oci writes a layout; --push lands in the registry.
func TestIntegrationBuild(t *testing.T) {
	s := start(t)
	_, feEnv := frontendEnv(t, s)
	reg := registry{s.Registry}
	dir := writeTree(t, map[string]string{
		"docker/Dockerfile":   "FROM busybox AS first\nARG MSG=unset\nRUN echo \"first $MSG\" > /msg\n\nFROM busybox AS second\nRUN echo second > /msg\n",
		"zimg/ZImagefile.app": "version: \"1\"\nargs:\n  MSG: unset\nstages:\n  first:\n    base: busybox\n    steps:\n      - run: echo \"first $MSG\" > /msg\n  second:\n    base: busybox\n    steps:\n      - run: echo second > /msg\n",
	})
	backends := []struct {
		name string
		env  []string
		args []string
	}{
		{"buildx", append([]string{"BUILDKIT_HOST="}, feEnv...), nil},
		{"inprocess", []string{"BUILDX_BUILDER=", "ZLAYER_FRONTEND=nonexistent/frontend:none"}, []string{"--addr", s.BuildkitAddr}},
	}
	for _, be := range backends {
		for _, kind := range []string{"docker", "zimg"} {
			t.Run(be.name+"/"+kind, func(t *testing.T) {
				ctxDir := filepath.Join(dir, kind)
				n := nonce(t)
				out := filepath.Join(t.TempDir(), "img.tar")
				args := append([]string{"build", "--progress", "plain", "--target", "first", "--build-arg", "MSG=" + n, "--output", "type=oci,dest=" + out}, be.args...)
				r := zlayer(t, s, ctxDir, be.env, append(args, ".")...)
				if r.code != 0 {
					t.Fatalf("exit %d", r.code)
				}
				ociTar(t, out)

				tag := s.Registry + "/it/build-" + be.name + "-" + kind + ":1"
				args = append([]string{"build", "--progress", "plain", "--target", "first", "--build-arg", "MSG=" + n, "-t", tag, "--push"}, be.args...)
				r = zlayer(t, s, ctxDir, be.env, append(args, ".")...)
				if r.code != 0 {
					t.Fatalf("push exit %d", r.code)
				}
				repo := strings.TrimPrefix(strings.TrimSuffix(tag, ":1"), s.Registry+"/")
				if got := mustFile(t, reg, repo, "1", "/msg"); got != "first "+n+"\n" {
					t.Errorf("/msg = %q: --target or --build-arg did not reach the build", got)
				}
			})
		}
	}
}

func TestIntegrationBuildErrors(t *testing.T) {
	s := start(t)
	empty := t.TempDir()
	r := zlayer(t, s, empty, []string{"BUILDKIT_HOST="}, "build", ".")
	if r.code == 0 || !strings.Contains(r.out, "no build file in") {
		t.Errorf("no build file: exit %d", r.code)
	}
	two := writeTree(t, map[string]string{"ZImagefile.a": "base: busybox\n", "ZImagefile.b": "base: busybox\n"})
	r = zlayer(t, s, two, []string{"BUILDKIT_HOST="}, "build", ".")
	if r.code == 0 || !strings.Contains(r.out, "ZImagefile.a, ZImagefile.b") {
		t.Errorf("several ZImagefiles: exit %d", r.code)
	}
	df := writeTree(t, map[string]string{"Dockerfile": "FROM busybox\n"})
	r = zlayer(t, s, df, []string{"BUILDKIT_HOST=", "BUILDX_BUILDER=no-such-builder"}, "build", ".")
	if r.code == 0 || !strings.Contains(r.out, "no-such-builder is unreachable") {
		t.Errorf("unknown builder: exit %d", r.code)
	}
	r = zlayer(t, s, df, []string{"BUILDX_BUILDER="}, "build", "--addr", "unix:///nonexistent/bk.sock", ".")
	if r.code == 0 || !strings.Contains(r.out, "unreachable") {
		t.Errorf("bad --addr: exit %d", r.code)
	}
	r = zlayer(t, s, df, []string{"BUILDKIT_HOST=", "PATH=/usr/bin:/bin", "DOCKER_CONFIG=" + t.TempDir()}, "build", ".")
	if r.code == 0 || !strings.Contains(r.out, "buildx is not installed") {
		t.Errorf("no buildx: exit %d", r.code)
	}
}
