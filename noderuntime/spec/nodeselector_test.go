package spec

import (
	"fmt"
	"maps"
	"strings"
	"testing"
)

const selectorBase = "version: v1\ndeployment: x\nservices:\n  web:\n    image: busybox\n"

func TestNodeSelector(t *testing.T) {
	d, err := Parse("s.yaml", []byte(selectorBase+"    node_selector: {disk: ssd, example.com/zone: EU_1.a, gen: 2, fast: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Scalars are read as YAML reads them into strings: 2 is "2", as a
	// --node-label gen=2 is.
	want := NodeSelector{"disk": "ssd", "example.com/zone": "EU_1.a", "gen": "2", "fast": "true"}
	if got := d.Services["web"].NodeSelector; !maps.Equal(got, want) {
		t.Errorf("node_selector %v, want %v", got, want)
	}
	d, err = Parse("s.yaml", []byte(selectorBase))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Services["web"].NodeSelector; got != nil {
		t.Errorf("no node_selector gave %v", got)
	}
}

func TestNodeSelectorRefusedWithPositions(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, tc := range []struct{ line, want string }{
		{"    node_selector: {disk type: ssd}", `s.yaml:6:21: services.web.node_selector.disk type: "disk type" is not a valid node label name`},
		{"    node_selector: {-disk: ssd}", `s.yaml:6:21: services.web.node_selector.-disk: "-disk" is not a valid node label name`},
		{"    node_selector: {a/b/c: ssd}", `"a/b/c" is not a valid node label name`},
		{"    node_selector: {/disk: ssd}", `"/disk" is not a valid node label name`},
		{"    node_selector: {" + long + ": x}", `is not a valid node label name`},
		{"    node_selector: {example.com/" + long + ": x}", `is not a valid node label name`},
		{"    node_selector: {disk: -ssd}", `s.yaml:6:27: services.web.node_selector.disk: "-ssd" is not a valid node label value`},
		{"    node_selector: {disk: 'a b'}", `"a b" is not a valid node label value`},
		{"    node_selector: {disk: ''}", `"" is not a valid node label value`},
		{"    node_selector: {disk: a/b}", `"a/b" is not a valid node label value`},
		{"    node_selector: {disk: " + long + "}", `is not a valid node label value`},
		{"    node_selector: {disk: [ssd]}", `s.yaml:6:27: services.web.node_selector.disk: must be a string, got a list`},
		{"    node_selector: {disk: }", `services.web.node_selector.disk: must be a string, got null`},
		{"    node_selector: ssd", `s.yaml:6:20: services.web.node_selector: must be a mapping, got "ssd"`},
		{"    node_selector: {disk: a, disk: b}", `services.web.node_selector.disk: duplicate key`},
	} {
		t.Run(tc.line, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(selectorBase+tc.line+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNodeSelectorIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(selectorBase + "    node_selector:\n")
	for i := range MaxNodeSelector {
		fmt.Fprintf(&b, "      k%d: v\n", i)
	}
	if _, err := Parse("s.yaml", []byte(b.String())); err != nil {
		t.Fatalf("%d pairs refused: %v", MaxNodeSelector, err)
	}
	b.WriteString("      one-more: v\n")
	mustRefuse(t, b.String(), fmt.Sprintf("h.yaml:7:7: services.web.node_selector: must have at most %d entries, got %d", MaxNodeSelector, MaxNodeSelector+1))
}

func TestNodeLabelRules(t *testing.T) {
	part := strings.Repeat("a", 63)
	for _, k := range []string{"a", "disk", "Disk_Type.2", "example.com/zone", "k8s.io/" + part, part + "/" + part, "0"} {
		if err := CheckNodeLabelKey(k); err != nil {
			t.Errorf("key %q refused: %v", k, err)
		}
	}
	for _, k := range []string{"", "a/", "/a", "a//b", "a.", "_a", "a b", part + "a", "é", "a=b", "a:b"} {
		if CheckNodeLabelKey(k) == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	for _, v := range []string{"ssd", "2", "EU_1.a", part} {
		if err := CheckNodeLabelValue(v); err != nil {
			t.Errorf("value %q refused: %v", v, err)
		}
	}
	for _, v := range []string{"", "a/b", "-a", "a-", part + "a", "a\nb"} {
		if CheckNodeLabelValue(v) == nil {
			t.Errorf("value %q accepted", v)
		}
	}
}

// node_selector changes where a replica runs, not its container: editing
// it must not roll replicas.
func TestNodeSelectorLeavesHashAlone(t *testing.T) {
	var hashes []string
	for _, sel := range []string{"", "    node_selector: {}\n", "    node_selector: {disk: ssd}\n", "    node_selector: {disk: hdd, zone: a}\n"} {
		d, err := Parse("s.yaml", []byte(selectorBase+sel))
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, d.Services["web"].Hash())
	}
	for _, h := range hashes[1:] {
		if h != hashes[0] {
			t.Errorf("hash changed with node_selector: %v", hashes)
		}
	}
}
