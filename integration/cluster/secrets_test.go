package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// The values are long and odd so that finding one anywhere is no accident.
const (
	clusterFileValue = "cluster-file-secret-4e8b2a61"
	clusterEnvValue  = "cluster-env-secret-9c3d7f05"
	clusterNewValue  = "cluster-file-rotated-1a6e93"
)

// secretSpec runs on the ssd agent, with a file secret and an env one.
const clusterSecretSpec = `version: v1
deployment: sec
services:
  app:
    image: busybox
    network_mode: host
    node_selector: {disk: ssd}
    command: {entrypoint: [/bin/sh, -c, "echo started; trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
    env:
      DB_PASSWORD: "$S:db-password"
    secrets:
      - name: tls-key
        mode: 0440
        uid: 1000
`

var clusterSecretSteps = []scenario.Step[*clusterFx]{
	step("a node's secret moves into the cluster it starts", testSecretMovesIn),
	step("an agent joins; a secret created through it", testSecretThroughAgent),
	step("a spec naming an unknown secret is refused at its position", testClusterSecretUnknown),
	step("the replica on the agent sees the file and the env", testClusterSecretReplicaSees),
	step("the values are in no etcd key, snapshot, log or listing", testClusterSecretNowhere),
	step("a new value rolls the replica on the agent", testClusterSecretRotate),
	step("cut off from the servers, the agent restarts its replica with its files", testClusterSecretCutOff),
	step("rm refused while used, done once not", testClusterSecretRm),
}

// TestClusterSecrets: secrets kept by a cluster (a server and an agent,
// each in its own network namespace) and used by a replica on the agent.
func TestClusterSecrets(t *testing.T) {
	scenario.Run(t, newClusterFx(t, "cs", "s1", "a1"), clusterSecretSteps)
}

func testSecretMovesIn(t *testing.T, fx *clusterFx) {
	ns := fx.ns["s1"]
	n := StartClusterNode(fx.t, fx.s, ns)
	defer n.Use(t)()
	fx.nodes["s1"] = n
	n.MustCLI("secret", "create", "tls-key", "--from-file", n.WriteSpec("tls-key.txt", clusterFileValue))
	n.Stop()
	n.Restart("serve", "--cluster-init", "--node-name", "s1", "--advertise-address", ns.IP.String())
	waitReady(t, fx, "s1")
	ls := secretList(t, n)
	if len(ls) != 1 || ls[0].Name != "tls-key" || ls[0].Size != len(clusterFileValue) || ls[0].Version != 1 {
		t.Fatalf("the cluster's secrets after --cluster-init: %+v", ls)
	}
	st, err := os.Stat(filepath.Join(n.Dir, "cluster", "secrets.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the cluster's secrets key: %v %v, want mode 0600", st, err)
	}
}

func testSecretThroughAgent(t *testing.T, fx *clusterFx) {
	ns := fx.ns["a1"]
	n := StartClusterNode(fx.t, fx.s, ns, "join", "--api", fx.nodes["s1"].URL(), "--token", token(t, fx, "agent"),
		"--node-name", "a1", "--advertise-address", ns.IP.String(), "--node-label", "disk=ssd")
	defer n.Use(t)()
	fx.nodes["a1"] = n
	adminFile := filepath.Join(fx.nodes["s1"].Dir, "token")
	admin, err := os.ReadFile(adminFile)
	if err != nil {
		t.Fatal(err)
	}
	if n.API, err = apiclient.New(n.Socket, strings.TrimSpace(string(admin))); err != nil {
		t.Fatal(err)
	}
	waitReady(t, fx, "a1")
	if _, err := os.Stat(filepath.Join(n.Dir, "cluster", "secrets.key")); err == nil {
		t.Error("the agent was given the cluster's secrets key")
	}
	// A write asked of the agent goes to a server, with the admin token.
	if out, errOut, code := n.CLIIn(clusterEnvValue, "secret", "create", "--token-file", adminFile, "db-password", "-"); code != 0 {
		t.Fatalf("secret create through the agent: exit %d %s %s", code, out, errOut)
	}
	if _, errOut, code := n.CLIIn("x", "secret", "create", "other", "-"); code == 0 {
		t.Error("the agent's socket made a secret without the cluster's admin token")
	} else {
		t.Logf("without the admin token: %s", strings.TrimSpace(errOut))
	}
	for _, via := range []*Node{fx.nodes["s1"], n} {
		ls := secretList(t, via)
		if len(ls) != 2 || ls[0].Name != "db-password" || ls[0].Size != len(clusterEnvValue) {
			t.Errorf("secret ls through %s: %+v", via.Name, ls)
		}
	}
}

func testClusterSecretUnknown(t *testing.T, fx *clusterFx) {
	s1 := fx.nodes["s1"]
	p := s1.WriteSpec("bad.yaml", strings.Replace(clusterSecretSpec, "name: tls-key", "name: no-such-key", 1))
	_, errOut, code := s1.CLI("deploy", p)
	if code == 0 || !strings.Contains(errOut, `bad.yaml:12:15: services.app.secrets[0].name: unknown secret "no-such-key"`) {
		t.Errorf("unknown secret: exit %d\n%s", code, errOut)
	}
}

func testClusterSecretReplicaSees(t *testing.T, fx *clusterFx) {
	s1 := fx.nodes["s1"]
	s1.MustCLI("deploy", s1.WriteSpec("sec.yaml", clusterSecretSpec), "--timeout", "90s")
	rows := waitRunning(t, fx, "sec", 1, 90*time.Second)
	if rows[0].Node != "a1" {
		t.Fatalf("the replica runs on %s, want a1", rows[0].Node)
	}
	want := clusterFileValue + "\n" + clusterEnvValue + "\n440 1000\n"
	waitFor(t, "the replica on a1 sees its secrets", 30*time.Second, func() bool {
		return replicaSees(s1) == want
	})
	ls := secretList(t, s1)
	for _, i := range ls {
		if len(i.UsedBy) != 1 || i.UsedBy[0] != "sec/app" {
			t.Errorf("%s used by %v, want sec/app", i.Name, i.UsedBy)
		}
	}
}

// replicaSees is what the replica of sec reads of its secrets, through via.
func replicaSees(via *Node) string {
	out, _, _ := via.CLI("exec", "sec/app", "--", "sh", "-c", `cat /run/secrets/tls-key; echo; echo "$DB_PASSWORD"; stat -c '%a %u' /run/secrets/tls-key`)
	return out
}

func testClusterSecretNowhere(t *testing.T, fx *clusterFx) {
	s1, a1 := fx.nodes["s1"], fx.nodes["a1"]
	values := [][]byte{[]byte(clusterFileValue), []byte(clusterEnvValue)}
	holds := func(b []byte) bool { return bytes.Contains(b, values[0]) || bytes.Contains(b, values[1]) }
	for _, via := range []*Node{s1, a1} {
		for _, args := range [][]string{{"status", "-o", "json"}, {"ps", "-o", "json"}, {"secret", "ls", "-o", "json"}, {"history", "sec"}, {"logs", "sec/app"}} {
			if out := via.MustCLI(args...); holds([]byte(out)) {
				t.Errorf("zlayer %s through %s shows a value", strings.Join(args, " "), via.Name)
			}
		}
		if holds([]byte(via.Log())) {
			t.Errorf("%s's log shows a value", via.Name)
		}
	}
	snap := filepath.Join(fx.s.Dir, "secrets-backup.db")
	s1.MustCLI("cluster", "snapshot", "save", snap)
	b, err := os.ReadFile(snap)
	if err != nil || len(b) == 0 {
		t.Fatalf("snapshot: %d bytes, %v", len(b), err)
	}
	if holds(b) {
		t.Error("the cluster's snapshot holds a value in the clear")
	}
	if !bytes.Contains(b, []byte("/zlayer/v1/secrets/sealed/tls-key")) {
		t.Error("the snapshot has no sealed record of tls-key: it was not where the secrets are")
	}
	// On disk: etcd's data and WAL, the nodes' stores and identities
	// hold neither value; the agent's containers (their rootfs and the
	// OCI spec copies that carry the env value) were looked at.
	for _, n := range []*Node{s1, a1} {
		seen := n.SecretValuesOnDisk(t, clusterFileValue, clusterEnvValue)
		if seen.Checked < 10 || n == a1 && (seen.Snapshots == 0 || seen.SpecCopies == 0) {
			t.Errorf("%s: the walk checked %d files, %d in snapshots, found %d copies of the OCI spec", n.Name, seen.Checked, seen.Snapshots, seen.SpecCopies)
		}
	}
}

func testClusterSecretRotate(t *testing.T, fx *clusterFx) {
	s1 := fx.nodes["s1"]
	before := running(ps(t, s1), "sec")
	if len(before) != 1 {
		t.Fatalf("sec before: %+v", before)
	}
	out, errOut, code := s1.CLIIn(clusterNewValue, "secret", "create", "tls-key", "-")
	if code != 0 || !strings.Contains(out, "version 2") || !strings.Contains(out, "rolling sec") {
		t.Fatalf("a new value: exit %d %s %s", code, out, errOut)
	}
	want := clusterNewValue + "\n" + clusterEnvValue + "\n440 1000\n"
	waitFor(t, "the replica on a1 rolled to the new value", 90*time.Second, func() bool {
		rows := running(tryPs(s1), "sec")
		return len(rows) == 1 && rows[0].ID != before[0].ID && rows[0].Node == "a1" && replicaSees(s1) == want
	})
	if i := secretList(t, s1); len(i) != 2 || i[1].Name != "tls-key" || i[1].Version != 2 {
		t.Errorf("after the new value: %+v", i)
	}
}

// testClusterSecretCutOff: the agent keeps nothing of the values but the
// tmpfs files of its replicas, which a replica restarted while no server
// answers finds again.
func testClusterSecretCutOff(t *testing.T, fx *clusterFx) {
	a1 := fx.nodes["a1"]
	rows := running(ps(t, fx.nodes["s1"]), "sec")
	if len(rows) != 1 || rows[0].PID == 0 {
		t.Fatalf("sec: %+v", rows)
	}
	a1.NS.LinkDown()
	defer func() {
		a1.NS.LinkUp()
		waitReady(t, fx, "a1")
	}()
	if err := syscall.Kill(rows[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var got string
	waitFor(t, "the replica restarted on a1 while cut off", 60*time.Second, func() bool {
		pid := runningTasks(a1)[rows[0].ID]
		if pid == 0 || int(pid) == rows[0].PID {
			return false
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/run/secrets/tls-key", pid))
		got = string(b)
		return err == nil
	})
	if got != clusterNewValue {
		t.Errorf("the restarted replica reads %q", got)
	}
}

func testClusterSecretRm(t *testing.T, fx *clusterFx) {
	s1, a1 := fx.nodes["s1"], fx.nodes["a1"]
	if _, errOut, code := s1.CLI("secret", "rm", "tls-key"); code == 0 || !strings.Contains(errOut, "is used by sec/app") {
		t.Errorf("rm of a used secret: exit %d %s", code, errOut)
	}
	s1.MustCLI("down", "sec")
	s1.MustCLI("secret", "rm", "tls-key")
	adminFile := filepath.Join(s1.Dir, "token")
	a1.MustCLI("secret", "rm", "--token-file", adminFile, "db-password")
	if ls := secretList(t, s1); len(ls) != 0 {
		t.Errorf("after rm: %+v", ls)
	}
}

func secretList(t *testing.T, via *Node) []apitypes.SecretInfo {
	t.Helper()
	out := via.MustCLI("secret", "ls", "-o", "json")
	var l []apitypes.SecretInfo
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("secret ls -o json through %s: %v\n%s", via.Name, err, out)
	}
	return l
}
