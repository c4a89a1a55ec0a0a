package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/secrets"
)

// The values are long and odd so that finding one anywhere is no accident.
const (
	fileValue = "file-secret-5b1e0c7d9a"
	envValue  = "env-secret-8f3a2d6c4b"
	newValue  = "file-secret-rotated-77e1"
)

const secretSpec = `version: v1
deployment: sec
services:
  app:
    image: busybox
    command: {entrypoint: [/bin/sh, -c, "echo started; trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
    env:
      DB_PASSWORD: "$S:db-password"
      LITERAL: "$$S:kept"
    secrets:
      - name: tls-key
        mode: 0440
        uid: 1000
`

type secretDay struct{ n *Node }

func (d *secretDay) node() *Node { return d.n }

var secretSteps = []scenario.Step[*secretDay]{
	nodeStep("create from a file and from stdin", testSecretCreate),
	nodeStep("unknown secret refused at its position", testSecretUnknownRefused),
	nodeStep("replica sees the file and the env", testSecretReplicaSees),
	nodeStep("the values are nowhere else", testSecretNowhereElse),
	nodeStep("a new value rolls the replica", testSecretUpdateRolls),
	nodeStep("across a serve restart and a replica's exit", testSecretAcrossRestart),
	nodeStep("rm refused while used", testSecretRmRefused),
}

// TestIntegrationNodeSecrets: zlayer secret create/ls/rm on a node, a
// service using a file secret and an env secret, the values kept out of
// logs, status, ps, the store and the rootfs, and a new value rolling.
func TestIntegrationNodeSecrets(t *testing.T) {
	s := stack.Start(t, stack.Options{Containerd: true})
	scenario.Run(t, &secretDay{n: StartNode(t, s)}, secretSteps)
}

func testSecretCreate(t *testing.T, d *secretDay) {
	n := d.n
	f := n.WriteSpec("tls-key.txt", fileValue)
	n.MustCLI("secret", "create", "tls-key", "--from-file", f)
	if out, errOut, code := n.CLIIn(envValue, "secret", "create", "db-password", "-"); code != 0 {
		t.Fatalf("create from stdin: %d %s %s", code, out, errOut)
	}
	if _, errOut, code := n.CLI("secret", "create", "x", envValue); code == 0 || !strings.Contains(errOut, "never given on the command line") {
		t.Errorf("a value on the command line: exit %d %s", code, errOut)
	}
	ls := n.MustCLI("secret", "ls")
	if !lineWith(ls, "tls-key", "22") || !lineWith(ls, "db-password", "21") {
		t.Errorf("secret ls:\n%s", ls)
	}
	for _, f := range []string{secrets.KeyFile, secrets.StoreFile} {
		st, err := os.Stat(filepath.Join(n.Dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st, err)
		}
	}
}

func testSecretUnknownRefused(t *testing.T, d *secretDay) {
	n := d.n
	p := n.WriteSpec("bad.yaml", strings.Replace(secretSpec, "tls-key", "no-such-key", 1))
	_, errOut, code := n.CLI("deploy", p)
	if code == 0 || !strings.Contains(errOut, `bad.yaml:11:15: services.app.secrets[0].name: unknown secret "no-such-key"`) {
		t.Errorf("unknown secret: exit %d\n%s", code, errOut)
	}
}

func testSecretReplicaSees(t *testing.T, d *secretDay) {
	n := d.n
	n.MustCLI("deploy", n.WriteSpec("sec.yaml", secretSpec), "--timeout", "60s")
	out := n.MustCLI("exec", "app", "--", "sh", "-c", `cat /run/secrets/tls-key; echo; echo "$DB_PASSWORD $LITERAL"; stat -c '%a %u' /run/secrets/tls-key; (echo x > /run/secrets/tls-key) 2>/dev/null && echo writable; true`)
	want := fileValue + "\n" + envValue + " $S:kept\n440 1000\n"
	if out != want {
		t.Errorf("replica sees %q, want %q", out, want)
	}
}

func testSecretNowhereElse(t *testing.T, d *secretDay) {
	n := d.n
	for _, args := range [][]string{{"status", "-o", "json"}, {"ps", "-o", "json"}, {"secret", "ls", "-o", "json"}, {"history", "sec"}, {"logs", "app"}} {
		out := n.MustCLI(args...)
		if strings.Contains(out, fileValue) || strings.Contains(out, envValue) {
			t.Errorf("zlayer %s shows a value", strings.Join(args, " "))
		}
	}
	if strings.Contains(n.Log(), fileValue) || strings.Contains(n.Log(), envValue) {
		t.Error("the node's log shows a value")
	}
	// The store, the secrets file and every snapshot (the container's
	// rootfs) hold neither value; only the secrets tmpfs has the file.
	seen := n.SecretValuesOnDisk(t, fileValue, envValue)
	// The walk saw the rootfs and the spec copies it exempts: it looked
	// where the values could be.
	if seen.Checked < 10 || seen.Snapshots == 0 || seen.SpecCopies == 0 {
		t.Errorf("the walk checked %d files, %d in snapshots, found %d copies of the OCI spec", seen.Checked, seen.Snapshots, seen.SpecCopies)
	}
}

func testSecretUpdateRolls(t *testing.T, d *secretDay) {
	n := d.n
	old := n.Replicas("sec", "app")
	if len(old) != 1 {
		t.Fatalf("replicas %+v", old)
	}
	out, errOut, code := n.CLIIn(newValue, "secret", "create", "tls-key", "-")
	if code != 0 || !strings.Contains(out, "version 2") || !strings.Contains(out, "rolling sec") {
		t.Fatalf("update: %d %s %s", code, out, errOut)
	}
	n.WaitFor("the replica rolled", 60*time.Second, func() bool {
		rs := n.Replicas("sec", "app")
		return len(rs) == 1 && rs[0].SpecHash != old[0].SpecHash && n.Ready("sec")
	})
	if got := n.MustCLI("exec", "app", "--", "cat", "/run/secrets/tls-key"); got != newValue {
		t.Errorf("after update the file holds %q", got)
	}
}

// testSecretAcrossRestart: serve stops (unmounting its secrets tmpfs)
// and starts again: the running replica keeps its file; once it exits,
// its restart finds the file's source gone and is recreated with the
// values from the store.
func testSecretAcrossRestart(t *testing.T, d *secretDay) {
	n := d.n
	n.Stop()
	n.Start()
	n.WaitFor("adopted and ready", 30*time.Second, func() bool { return n.Ready("sec") })
	if got := n.MustCLI("exec", "app", "--", "cat", "/run/secrets/tls-key"); got != newValue {
		t.Errorf("after the serve restart the file holds %q", got)
	}
	before := n.Replicas("sec", "app")[0]
	n.MustCLI("exec", "app", "--", "kill", "-TERM", "1")
	n.WaitFor("the replica came back", 60*time.Second, func() bool {
		rs := n.Replicas("sec", "app")
		return len(rs) == 1 && rs[0].PID != before.PID && rs[0].PID != 0 && n.Ready("sec")
	})
	out := n.MustCLI("exec", "app", "--", "sh", "-c", `cat /run/secrets/tls-key; echo " $DB_PASSWORD"`)
	if out != newValue+" "+envValue+"\n" {
		t.Errorf("after the replica's exit it sees %q", out)
	}
}

func testSecretRmRefused(t *testing.T, d *secretDay) {
	n := d.n
	if _, errOut, code := n.CLI("secret", "rm", "tls-key"); code == 0 || !strings.Contains(errOut, "is used by sec/app") {
		t.Errorf("rm of a used secret: exit %d %s", code, errOut)
	}
	n.MustCLI("down", "sec")
	n.MustCLI("secret", "rm", "tls-key", "db-password")
	if ls := n.MustCLI("secret", "ls"); strings.Contains(ls, "tls-key") {
		t.Errorf("after rm:\n%s", ls)
	}
}
