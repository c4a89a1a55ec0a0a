package yamldoc

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestGet(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: 1\nb:\n  c: two\na: 3\nlist: [x]\n"), &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	if v := Get(root, "a"); v == nil || v.Value != "1" {
		t.Fatalf("Get(a) = %v, want the first a, 1", v)
	}
	if v := Get(Get(root, "b"), "c"); v == nil || v.Value != "two" {
		t.Fatalf("Get(b).Get(c) = %v, want two", v)
	}
	for name, v := range map[string]*yaml.Node{
		"missing key":     Get(root, "z"),
		"nil mapping":     Get(nil, "a"),
		"not a mapping":   Get(Get(root, "list"), "x"),
		"through missing": Get(Get(root, "z"), "c"),
	} {
		if v != nil {
			t.Errorf("%s: got %v, want nil", name, v)
		}
	}
}
