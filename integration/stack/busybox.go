package stack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	bkclient "github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"
)

// BusyboxRef is the reference tests use for the base image; the registry
// serves it as library/busybox:latest, so plain "busybox" resolves to it
// through the docker.io mirror.
const BusyboxRef = "busybox:latest"

// seedBusybox builds a busybox image from Debian's static busybox and pushes
// it, since no public registry is reachable.
func (s *Stack) seedBusybox(ctx context.Context) error {
	tools := filepath.Dir(s.ToolsBin)
	ctxDir := filepath.Join(s.Dir, "busybox-ctx")
	if err := MakeBusyboxRootfs(busyboxBinary(tools), filepath.Join(ctxDir, "rootfs")); err != nil {
		return err
	}
	df := "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nCMD [\"sh\"]\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	ref := s.Registry + "/library/busybox:latest"
	return s.BuildDockerfile(ctx, ctxDir, ref)
}

// BuildDockerfile builds ctxDir/Dockerfile with BuildKit's built-in Dockerfile
// frontend and pushes the result as ref (a name in the stack's registry).
func (s *Stack) BuildDockerfile(ctx context.Context, ctxDir, ref string) error {
	return s.BuildAndPush(ctx, DockerfileBuild{Context: ctxDir}, ref)
}

// DockerfileBuild says what BuildAndPush builds.
type DockerfileBuild struct {
	Context       string            // build context folder
	DockerfileDir string            // folder of the Dockerfile (default: Context)
	Filename      string            // default: Dockerfile
	Target        string            // stage to build (default: the last)
	BuildArgs     map[string]string // --build-arg values
}

// BuildAndPush builds b with BuildKit's built-in Dockerfile frontend and
// pushes the result as ref (a name in the stack's registry).
func (s *Stack) BuildAndPush(ctx context.Context, b DockerfileBuild, ref string) error {
	c, err := bkclient.New(ctx, s.BuildkitAddr)
	if err != nil {
		return err
	}
	defer c.Close()
	ctxFS, err := fsutil.NewFS(b.Context)
	if err != nil {
		return err
	}
	dfFS := ctxFS
	if b.DockerfileDir != "" {
		if dfFS, err = fsutil.NewFS(b.DockerfileDir); err != nil {
			return err
		}
	}
	attrs := map[string]string{}
	if b.Filename != "" {
		attrs["filename"] = b.Filename
	}
	if b.Target != "" {
		attrs["target"] = b.Target
	}
	for k, v := range b.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	opt := bkclient.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		Exports: []bkclient.ExportEntry{{
			Type:  bkclient.ExporterImage,
			Attrs: map[string]string{"name": ref, "push": "true", "registry.insecure": "true"},
		}},
	}
	ch := make(chan *bkclient.SolveStatus)
	go func() {
		for range ch { //nolint:revive // drain progress
		}
	}()
	if _, err := c.Solve(ctx, nil, opt, ch); err != nil {
		return fmt.Errorf("build %s: %w", ref, err)
	}
	return nil
}

// MakeBusyboxRootfs lays out a minimal root file system around a static
// busybox: applet links, /tmp, and the passwd and group files that USER and
// chown need.
func MakeBusyboxRootfs(busybox, rootfs string) error {
	for _, d := range []string{"bin", "tmp", "etc", "root", "home/app", "var/www"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777|os.ModeSticky); err != nil {
		return err
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), b, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		link := filepath.Join(rootfs, "bin", applet)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink("busybox", link); err != nil {
			return err
		}
	}
	if err := os.Chown(filepath.Join(rootfs, "home/app"), 1000, 1000); err != nil {
		return err
	}
	files := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":    "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n",
		"etc/hosts":    "127.0.0.1 localhost\n",
		"etc/hostname": "busybox\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
