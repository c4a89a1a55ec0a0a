package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// startDockerd runs Debian's dockerd with a private socket, data root and exec
// root, and with its firewall, forwarding and bridge handling off so that the
// host network is left alone.
func (s *Stack) startDockerd(ctx context.Context) error {
	dockerd, err := lookPath("dockerd")
	if err != nil {
		return err
	}
	dir := filepath.Join(s.Dir, "dkd")
	for _, d := range []string{"data", "exec", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	sock := filepath.Join(s.Dir, "dkd.sock")
	s.DockerHost = "unix://" + sock
	cfg := map[string]any{
		"insecure-registries": []string{s.Registry},
		"registry-mirrors":    []string{"http://" + s.Registry},
	}
	// Some machines' capability bounding sets lack a capability --privileged
	// asks for; register a runtime that drops exactly those.
	if missing := MissingPrivilegedCaps(); len(missing) > 0 {
		wrapper, err := s.writeCapDropRuntime(missing)
		if err != nil {
			return err
		}
		cfg["runtimes"] = map[string]any{PrivilegedRuntime: map[string]any{"path": wrapper}}
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	cfgPath := filepath.Join(dir, "etc", "daemon.json")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		return err
	}
	env := append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
	d, err := s.startDaemon("dockerd", env, dockerd,
		"--host", s.DockerHost,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--config-file", cfgPath,
		"--iptables=false", "--ip6tables=false", "--ip-forward=false", "--bridge=none",
	)
	if err != nil {
		return err
	}
	return waitReady(ctx, d, func(ctx context.Context) error {
		out, err := s.Command(ctx, "docker", "--host", s.DockerHost, "version", "--format", "{{.Server.Version}}").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	})
}

// PrivilegedRuntime is the dockerd runtime name tests pass to `docker run
// --runtime` for --privileged containers on machines that need it.
const PrivilegedRuntime = "runc-capdrop"

// MissingPrivilegedCaps lists the capabilities runc grants to --privileged
// containers that this process's bounding set lacks.
func MissingPrivilegedCaps() []string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	var bnd uint64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%x", &bnd); err != nil {
				return nil // unreadable, as when the file is
			}
		}
	}
	var missing []string
	for i, name := range capNames {
		if bnd&(1<<uint(i)) == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// capNames are Linux capabilities by number, 0 through 40.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
	"CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// writeCapDropRuntime writes an OCI runtime wrapper that strips the given
// capabilities from the bundle's config.json before handing over to runc.
// It is a shell script over jq-free sed so it needs nothing beyond the base system.
func (s *Stack) writeCapDropRuntime(caps []string) (string, error) {
	runc, err := lookPath("runc")
	if err != nil {
		return "", err
	}
	var sed strings.Builder
	for _, c := range caps {
		fmt.Fprintf(&sed, " -e 's/\"%[1]s\",\\{0,1\\}//g'", c)
	}
	script := fmt.Sprintf(`#!/bin/sh
# Drops capabilities this machine's bounding set lacks, then runs runc.
# docker exec hands the process (with the same capabilities) in --process.
bundle=""; process=""; prev=""
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle="$a";; --process|-p) process="$a";; esac
  case "$a" in --bundle=*) bundle="${a#--bundle=}";; --process=*) process="${a#--process=}";; esac
  prev="$a"
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
  sed -i%[1]s -e 's/,\]/]/g' "$bundle/config.json"
fi
if [ -n "$process" ] && [ -f "$process" ]; then
  sed -i%[1]s -e 's/,\]/]/g' "$process"
fi
exec %[2]s "$@"
`, sed.String(), runc)
	p := filepath.Join(s.Dir, "dkd", "runc-capdrop")
	return p, os.WriteFile(p, []byte(script), 0o755)
}
