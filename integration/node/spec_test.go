package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
)

// A spec that gets values past the checks through YAML aliases, or that
// expands exponentially, is refused by the running node with 422 and
// positions, nothing is deployed, and serve keeps serving.
func TestIntegrationNodeRefusesHostileSpecs(t *testing.T) {
	s := stack.Start(t, stack.Options{Containerd: true})
	n := StartNode(t, s)
	ctx := context.Background()

	evil := `version: v1
deployment: evil
services:
  web:
    image: busybox
    env: {P: &etc "../../../etc", Q: &db nosuch}
    storage:
      - {type: named, name: *etc, target: /host-etc}
    depends:
      - service: *db
`
	var laughs strings.Builder
	laughs.WriteString("version: v1\ndeployment: bomb\nservices:\n  web:\n    image: busybox\n    env: {L: &l0 lol}\n    command:\n      args:\n")
	for i := 1; i <= 12; i++ {
		laughs.WriteString("        - &l" + string(rune('a'+i)) + " [")
		prev := "*l" + string(rune('a'+i-1))
		if i == 1 {
			prev = "*l0"
		}
		laughs.WriteString(strings.TrimSuffix(strings.Repeat(prev+", ", 10), ", ") + "]\n")
	}

	for _, c := range []struct {
		file, body string
		want       []string // "line:col path: message" fragments
	}{
		{"evil.yaml", evil, []string{
			`evil.yaml:8:29: services.web.storage[0].name: "../../../etc" is not a valid name`,
			`evil.yaml:10:18: services.web.depends[0].service: unknown service "nosuch"`,
		}},
		{"bomb.yaml", laughs.String(), []string{"nodes via aliases"}},
	} {
		_, err := n.API.Apply(ctx, c.file, c.body)
		var ae *apiclient.Error
		if !errors.As(err, &ae) || ae.Status != 422 || ae.Code != "invalid_spec" {
			t.Fatalf("%s: want 422 invalid_spec, got %v", c.file, err)
		}
		for _, w := range c.want {
			if !strings.Contains(ae.Message, w) {
				t.Errorf("%s: missing %q in:\n%s", c.file, w, ae.Message)
			}
		}
		if len(ae.Errors) == 0 {
			t.Errorf("%s: no structured errors", c.file)
		}
		for _, e := range ae.Errors {
			if e.Line <= 0 || e.Column <= 0 {
				t.Errorf("%s: error without a position: %+v", c.file, e)
			}
		}
	}

	deps, err := n.API.List(ctx)
	if err != nil {
		t.Fatalf("serve stopped answering: %v", err)
	}
	if len(deps) != 0 {
		t.Errorf("deployed: %+v", deps)
	}
	if rs, err := n.API.Replicas(ctx); err != nil || len(rs) != 0 {
		t.Errorf("replicas %+v, %v", rs, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(n.Dir, "volumes")); len(ents) != 0 {
		t.Errorf("volumes created: %v", ents)
	}
}
