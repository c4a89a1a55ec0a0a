package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/internal/yamldoc"
)

// FuzzParse: whatever the input, Parse does not panic, does bounded work
// (the alias budget and the byte limit bound it; an unbounded input would
// hang the fuzzer), locates every problem it reports, and what it accepts
// keeps the rules the node relies on.
//
// go test runs the seeds only; make test runs it with -fuzz for a bounded time.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../examples/deploy/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		good,
		billionLaughs(),
		"version: v1\ndeployment: x\nservices:\n  web: &w\n    image: busybox\n  api:\n    <<: *w\n    scale: {replicas: 2}\n",
		"version: v1\ndeployment: x\nservices:\n  web:\n    image: busybox\n    env: {P: &e \"../../etc\"}\n    storage: [{type: named, name: *e, target: /d}]\n",
		"version: v1\ndeployment: x\nservices:\n  &d db: {image: busybox}\n  web: {image: busybox, depends: [{service: *d}]}\n",
		"a: &a [*a]\n",
		"m: &m {<<: *m}\n",
		"version: v1\ndeployment: x\nservices:\n  web:\n    image: busybox\n    labels: {<<: [{zlayer.x: a}, {b: c}]}\n",
		"version: v1\ndeployment: x\nservices:\n  web: {image: busybox, resources: {cpu: .nan, memory: 1e400}}\n",
		"version: v1\ndeployment: x\nservices:\n  web:\n    image: busybox\n    node_selector: {<<: [{-x: a}, {disk: ssd}], gen: 0x10, f: 1e3}\n",
		"",
		"---\n---\n",
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("f.yaml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("not Errors: %T %v", err, err)
			}
			if len(es) > MaxErrors+1 {
				t.Fatalf("%d errors kept", len(es))
			}
			for i, e := range es {
				wholeDoc := errors.Is(e, yamldoc.ErrEmpty) || errors.Is(e, yamldoc.ErrTooLarge) || e.Msg == "empty spec" ||
					(i == MaxErrors && strings.HasPrefix(e.Msg, "... and "))
				if e.Line <= 0 && !wholeDoc {
					t.Fatalf("error without a position: %v\ninput: %q", e, data)
				}
			}
			return
		}
		if err := CheckName(d.Deployment); err != nil {
			t.Fatal(err)
		}
		if len(d.Services) == 0 || len(d.StartOrder()) != len(d.Services) {
			t.Fatalf("services %v, order %v", d.Services, d.StartOrder())
		}
		for name, s := range d.Services {
			if err := CheckName(name); err != nil {
				t.Fatal(err)
			}
			_ = s.Hash()
			for k := range s.Labels {
				if CheckLabelKey(k) != nil {
					t.Fatalf("reserved label %q accepted", k)
				}
			}
			if len(s.NodeSelector) > MaxNodeSelector {
				t.Fatalf("node_selector of %d pairs accepted", len(s.NodeSelector))
			}
			for k, v := range s.NodeSelector {
				if CheckNodeLabelKey(k) != nil || CheckNodeLabelValue(v) != nil {
					t.Fatalf("node_selector %q: %q accepted", k, v)
				}
			}
			for _, m := range s.Storage {
				if m.Type == "named" && CheckName(m.Name) != nil || CheckAbsPath(m.Target) != nil {
					t.Fatalf("storage %+v accepted", m)
				}
			}
			for _, dep := range s.Depends {
				if d.Services[dep.Service] == nil {
					t.Fatalf("depends on unknown %q accepted", dep.Service)
				}
			}
			if s.Resources.CPU < 0 || s.Resources.Memory < 0 || s.Scale.Count() < 0 || (s.Resources.CPU != 0 && s.Resources.CPU < MinCPU) {
				t.Fatalf("resources %+v scale %d accepted", s.Resources, s.Scale.Count())
			}
		}
	})
}
