package depcycle

import (
	"slices"
	"testing"
)

func TestFind(t *testing.T) {
	g := map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"b"}, "d": nil}
	deps := func(n string) []string { return g[n] }
	if got, want := Find([]string{"a", "b", "c", "d"}, deps), []string{"b", "c", "b"}; !slices.Equal(got, want) {
		t.Fatalf("cycle = %v, want %v", got, want)
	}
	g["c"] = []string{"d"}
	if got := Find([]string{"a", "b", "c", "d"}, deps); got != nil {
		t.Fatalf("acyclic graph: got cycle %v", got)
	}
	g["d"] = []string{"d"}
	if got, want := Find([]string{"a", "b", "c", "d"}, deps), []string{"d", "d"}; !slices.Equal(got, want) {
		t.Fatalf("self loop = %v, want %v", got, want)
	}
}
