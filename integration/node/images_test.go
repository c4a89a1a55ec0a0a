package node

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// imageDay is a node whose images come from a local Docker engine, from
// archives and from a build, never from a registry push.
type imageDay struct {
	s *stack.Stack
	n *Node
}

func (d *imageDay) node() *Node { return d.n }

var imageSteps = []scenario.Step[*imageDay]{
	nodeStep("load from docker", testLoadFromDocker),
	nodeStep("second load skips", testLoadSkips),
	nodeStep("load -i of each format", testLoadArchives),
	nodeStep("ls shows used by after a deploy", testLsUsedBy),
	nodeStep("rm refused while used", testRmRefusedWhileUsed),
	nodeStep("prune removes only unused", testPruneOnlyUnused),
	nodeStep("build --node then deploy without a registry", testBuildToNode),
	nodeStep("rm --force of a used image", testRmForce),
}

// TestIntegrationNodeImages: `zlayer image load` from dockerd and from a
// docker-save tar, an OCI archive, an OCI layout folder and stdin; loads the
// node has are skipped; ls, rm and prune follow what services use; build
// --node sends a build straight to the node.
func TestIntegrationNodeImages(t *testing.T) {
	s := stack.Start(t, stack.Options{Containerd: true, Dockerd: true, Buildkit: true})
	d := &imageDay{s: s, n: StartNode(t, s)}
	scenario.Run(t, d, imageSteps)
}

// docker runs the stack's docker CLI against its dockerd.
func (d *imageDay) docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := d.s.Command(t.Context(), "docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (d *imageDay) images(t *testing.T) map[string]apitypes.ImageInfo {
	t.Helper()
	var list []apitypes.ImageInfo
	if err := json.Unmarshal([]byte(d.n.MustCLI("image", "ls", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]apitypes.ImageInfo{}
	for _, i := range list {
		out[i.Name] = i
	}
	return out
}

func testLoadFromDocker(t *testing.T, d *imageDay) {
	d.docker(t, "pull", d.s.Registry+"/library/busybox:latest")
	d.docker(t, "tag", d.s.Registry+"/library/busybox:latest", "load.test/zl/box:v1")
	d.docker(t, "tag", d.s.Registry+"/library/busybox:latest", "load.test/zl/other:v1")
	out := d.n.MustCLI("image", "load", "load.test/zl/box:v1", "load.test/zl/other:v1")
	for _, want := range []string{"loaded load.test/zl/box:v1 (sha256:", "loaded load.test/zl/other:v1 (sha256:"} {
		if !strings.Contains(out, want) {
			t.Errorf("image load output lacks %q:\n%s", want, out)
		}
	}
	id := strings.TrimSpace(d.docker(t, "image", "inspect", "--format", "{{.Id}}", "load.test/zl/box:v1"))
	imgs := d.images(t)
	if got := imgs["load.test/zl/box:v1"]; got.ConfigDigest != id && got.Digest != id {
		t.Errorf("node image %+v, docker's ID %s", got, id)
	}
}

// testLoadSkips: an image the node has under its name is not sent; one
// more name of the same image is.
func testLoadSkips(t *testing.T, d *imageDay) {
	out := d.n.MustCLI("image", "load", "load.test/zl/box:v1")
	if !strings.Contains(out, "load.test/zl/box:v1: already on the node") || strings.Contains(out, "loaded") {
		t.Errorf("second load: %s", out)
	}
	d.docker(t, "tag", "load.test/zl/box:v1", "load.test/zl/box:v2")
	out = d.n.MustCLI("image", "load", "load.test/zl/box:v1", "load.test/zl/box:v2")
	if !strings.Contains(out, "load.test/zl/box:v1: already on the node") || !strings.Contains(out, "loaded load.test/zl/box:v2") {
		t.Errorf("load of a known and a new name: %s", out)
	}
}

func testLoadArchives(t *testing.T, d *imageDay) {
	n := d.n
	dir := t.TempDir()
	// docker save: an OCI layout with docker's manifest.json beside it.
	d.docker(t, "tag", "load.test/zl/box:v1", "fmt.test/docker:v1")
	dockerTar := filepath.Join(dir, "docker.tar")
	d.docker(t, "save", "-o", dockerTar, "fmt.test/docker:v1")
	// containerd's export: an OCI archive.
	ociTar := filepath.Join(dir, "oci.tar")
	if err := os.Rename(exportBusybox(t, d.s, "fmt.test/oci:v1"), ociTar); err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(dir, "layout")
	untar(t, exportBusybox(t, d.s, "fmt.test/layout:v1"), layout)
	for name, input := range map[string]string{"fmt.test/docker:v1": dockerTar, "fmt.test/oci:v1": ociTar, "fmt.test/layout:v1": layout} {
		if out := n.MustCLI("image", "load", "-i", input); !strings.Contains(out, "loaded "+name) {
			t.Errorf("load -i %s: %s", input, out)
		}
		if out := n.MustCLI("image", "load", "-i", input); !strings.Contains(out, name+": already on the node") {
			t.Errorf("second load -i %s: %s", input, out)
		}
	}
	d.docker(t, "tag", "load.test/zl/box:v1", "fmt.test/stdin:v1")
	b, err := d.s.Command(t.Context(), "docker", "save", "fmt.test/stdin:v1").Output()
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := n.CLIIn(string(b), "image", "load", "-i", "-"); code != 0 || !strings.Contains(out, "loaded fmt.test/stdin:v1") {
		t.Errorf("load -i -: exit %d\n%s%s", code, out, errOut)
	}
	imgs := d.images(t)
	for _, name := range []string{"fmt.test/docker:v1", "fmt.test/oci:v1", "fmt.test/layout:v1", "fmt.test/stdin:v1"} {
		if i, ok := imgs[name]; !ok || i.Size == 0 {
			t.Errorf("image %s on the node: %+v (present %v)", name, i, ok)
		}
	}
	if _, errOut, code := n.CLI("image", "load", "-i", t.TempDir()); code == 0 || !strings.Contains(errOut, "not an OCI layout folder") {
		t.Errorf("load -i of an empty folder: exit %d: %s", code, errOut)
	}
}

func untar(t *testing.T, file, dir string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func testLsUsedBy(t *testing.T, d *imageDay) {
	n := d.n
	spec := n.WriteSpec("ldimg.yaml", `version: v1
deployment: ldimg
services:
  box:
    image: {name: load.test/zl/box:v1, pull_policy: never}
    command: {entrypoint: [/bin/sh, -c, "echo from-docker; sleep 3600"]}
`)
	n.MustCLI("deploy", spec, "--timeout", "30s")
	imgs := d.images(t)
	if got := imgs["load.test/zl/box:v1"].UsedBy; len(got) != 1 || got[0] != "ldimg/box" {
		t.Errorf("box used by %q, want [ldimg/box]", got)
	}
	if got := imgs["fmt.test/oci:v1"].UsedBy; got == nil || len(got) != 0 {
		t.Errorf("an unused image's used_by is %#v, want []", got)
	}
	table := n.MustCLI("image", "ls")
	if !strings.Contains(table, "USED BY") || !lineWith(table, "load.test/zl/box:v1", "ldimg/box") {
		t.Errorf("image ls:\n%s", table)
	}
}

// lineWith reports whether one line of text holds all of words.
func lineWith(text string, words ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			return true
		}
	}
	return false
}

func testRmRefusedWhileUsed(t *testing.T, d *imageDay) {
	n := d.n
	out, errOut, code := n.CLI("image", "rm", "load.test/zl/box:v1", "load.test/zl/box:v2")
	if code == 0 || !strings.Contains(errOut, "is used by ldimg/box") {
		t.Errorf("rm of a used image: exit %d\n%s%s", code, out, errOut)
	}
	// The refusal did not keep the unused one.
	if !strings.Contains(out, "removed load.test/zl/box:v2") {
		t.Errorf("rm went on past the refusal: %s", out)
	}
	imgs := d.images(t)
	if _, ok := imgs["load.test/zl/box:v1"]; !ok {
		t.Error("the used image was removed")
	}
	if _, ok := imgs["load.test/zl/box:v2"]; ok {
		t.Error("the unused image was not removed")
	}
	if _, errOut, code := n.CLI("image", "rm", "no.such/image:v1"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Errorf("rm of a missing image: exit %d: %s", code, errOut)
	}
}

func testPruneOnlyUnused(t *testing.T, d *imageDay) {
	n := d.n
	var res apitypes.Pruned
	if err := json.Unmarshal([]byte(n.MustCLI("image", "prune", "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	freed := map[string]int64{}
	var sum int64
	for _, r := range res.Removed {
		freed[r.Name] = r.Freed
		sum += r.Freed
	}
	for _, name := range []string{"load.test/zl/other:v1", "fmt.test/docker:v1", "fmt.test/oci:v1", "fmt.test/layout:v1", "fmt.test/stdin:v1"} {
		if _, ok := freed[name]; !ok {
			t.Errorf("prune kept unused %s: %+v", name, res)
		}
	}
	if _, ok := freed["load.test/zl/box:v1"]; ok {
		t.Errorf("prune removed the used image: %+v", res)
	}
	if imgs := d.images(t); len(imgs) != 1 {
		t.Errorf("images after prune: %v", imgs)
	}
	// The images saved from docker share every blob with the kept one:
	// containerd's collection keeps them. The archives exported from the
	// registry's pull hold its compressed layers, which go.
	for _, name := range []string{"load.test/zl/other:v1", "fmt.test/docker:v1", "fmt.test/stdin:v1"} {
		if freed[name] != 0 {
			t.Errorf("removing %s freed %d bytes of blobs the kept image shares", name, freed[name])
		}
	}
	if freed["fmt.test/oci:v1"]+freed["fmt.test/layout:v1"] == 0 || res.Freed != sum {
		t.Errorf("prune freed %+v (total %d)", freed, res.Freed)
	}
	if out := n.MustCLI("image", "prune"); !strings.Contains(out, "0 images removed, 0 B freed") {
		t.Errorf("second prune: %s", out)
	}
	// The replica runs on.
	n.WaitFor("box log after prune", 10*time.Second, func() bool {
		out, _, _ := n.CLI("logs", "box")
		return strings.Contains(out, "from-docker")
	})
}

func testBuildToNode(t *testing.T, d *imageDay) {
	n := d.n
	ctxDir := t.TempDir()
	df := "FROM " + d.s.Registry + "/library/busybox:latest\nRUN echo built-for-node > /msg\nCMD [\"sh\", \"-c\", \"cat /msg; sleep 3600\"]\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	out := n.MustCLI("build", "--node", "-t", "built.test/app:v1", "--progress", "plain", ctxDir)
	if !strings.Contains(out, "loaded built.test/app:v1") {
		t.Fatalf("build --node: %s", out)
	}
	spec := n.WriteSpec("built.yaml", "version: v1\ndeployment: built\nservices:\n  app:\n    image: {name: built.test/app:v1, pull_policy: never}\n")
	n.MustCLI("deploy", spec, "--timeout", "30s")
	n.WaitFor("built image log", 10*time.Second, func() bool {
		out, _, _ := n.CLI("logs", "app")
		return strings.Contains(out, "built-for-node")
	})
}

// testRmForce: a forced removal of a used image leaves its replica running.
func testRmForce(t *testing.T, d *imageDay) {
	n := d.n
	before := PIDsOf(n.Replicas("built", "app"))
	if out := n.MustCLI("image", "rm", "--force", "built.test/app:v1"); !strings.Contains(out, "removed built.test/app:v1") {
		t.Errorf("rm --force: %s", out)
	}
	if _, ok := d.images(t)["built.test/app:v1"]; ok {
		t.Error("the image is still listed after rm --force")
	}
	// A pass of the controller after the removal, which must leave it be.
	n.MustCLI("scale", "built/app", "1")
	time.Sleep(time.Second)
	if after := PIDsOf(n.Replicas("built", "app")); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("replicas changed after rm --force: before %v after %v", before, after)
	}
	for _, dep := range []string{"ldimg", "built"} {
		n.MustCLI("down", dep)
	}
}
