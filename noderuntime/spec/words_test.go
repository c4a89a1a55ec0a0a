package spec

import (
	"fmt"
	"strings"
	"testing"
)

// parseOne reads a service web (beside a db) whose lines are svc; an
// image of busybox is added unless svc gives one.
func parseOne(t *testing.T, o ParseOptions, svc string) *Service {
	t.Helper()
	if !strings.Contains(svc, "image:") {
		svc = "    image: busybox\n" + svc
	}
	d, err := ParseWith("s.yaml", []byte("version: v1\ndeployment: app\nservices:\n  db:\n    image: busybox\n  web:\n"+svc), o)
	if err != nil {
		t.Fatal(err)
	}
	return d.Services["web"]
}

// Each word of the typed enumerations is the spelling a spec uses.
func TestWordsAreSpecSpellings(t *testing.T) {
	for _, m := range []NetworkMode{NetworkHost, NetworkBridge} {
		if got := parseOne(t, ParseOptions{}, fmt.Sprintf("    network_mode: %s\n", m)).NetworkMode; got != m {
			t.Errorf("network_mode %s read as %q", m, got)
		}
	}
	for _, c := range []DependsCondition{DependsStarted, DependsHealthy} {
		if got := parseOne(t, ParseOptions{}, fmt.Sprintf("    depends: [{service: db, condition: %s}]\n", c)).Depends[0].Condition; got != c {
			t.Errorf("condition %s read as %q", c, got)
		}
	}
	for _, k := range []RestartKind{RestartNo, RestartAlways, RestartOnFailure, RestartUnlessStopped} {
		if got := parseOne(t, ParseOptions{}, fmt.Sprintf("    restart_policy: {kind: %s}\n", k)).RestartPolicy.Kind; got != k {
			t.Errorf("restart kind %s read as %q", k, got)
		}
	}
	for _, p := range []PullPolicy{PullAlways, PullIfNotPresent, PullNever} {
		if got := parseOne(t, ParseOptions{}, fmt.Sprintf("    image: {name: busybox, pull_policy: %s}\n", p)).Image.PullPolicy; got != p {
			t.Errorf("pull_policy %s read as %q", p, got)
		}
	}
	// The defaults are among them.
	s := parseOne(t, ParseOptions{}, "    depends: [{service: db}]\n")
	if s.RestartPolicy.Kind != RestartAlways || s.Image.PullPolicy != PullIfNotPresent || s.Depends[0].Condition != DependsHealthy {
		t.Errorf("defaults: %+v", s)
	}
}

// The default network mode is the reader's to give: the node's, host for
// Parse, none for a reader that does not know the node.
func TestDefaultNetworkModeIsAnOption(t *testing.T) {
	if got := parseOne(t, ParseOptions{DefaultNetworkMode: NetworkBridge}, "").NetworkMode; got != NetworkBridge {
		t.Errorf("node default bridge: got %q", got)
	}
	if got := parseOne(t, ParseOptions{}, "").NetworkMode; got != "" {
		t.Errorf("no default: got %q", got)
	}
	if got := parseOne(t, ParseOptions{DefaultNetworkMode: NetworkBridge}, "    network_mode: host\n").NetworkMode; got != NetworkHost {
		t.Errorf("written host on a bridge node: got %q", got)
	}
	d, err := Parse("s.yaml", []byte("version: v1\ndeployment: app\nservices:\n  web:\n    image: busybox\n"))
	if err != nil || d.Services["web"].NetworkMode != NetworkHost {
		t.Fatalf("Parse: %v %+v", err, d)
	}
}
