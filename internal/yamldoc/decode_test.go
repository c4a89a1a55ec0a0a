package yamldoc

import (
	"strings"
	"testing"
)

// TestDecodePositionsTypeErrors: yaml.v3 names only a wrong value's line;
// Decode reports file:line:col at the value, one error per wrong value.
func TestDecodePositionsTypeErrors(t *testing.T) {
	root, err := Parse("c.yaml", []byte("a: 1\nb:\n  n: x\n  m: [1, y]\n"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		A int
		B struct {
			N int
			M []int
		}
	}
	err = Decode("c.yaml", root, &v)
	for _, w := range []string{"c.yaml:3:6: cannot unmarshal !!str `x` into int", "c.yaml:4:10: cannot unmarshal !!str `y` into int"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want %q", err, w)
		}
	}
	if v.A != 1 {
		t.Fatalf("good values still decoded: %+v", v)
	}
}
