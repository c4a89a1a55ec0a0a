package yamldoc

import (
	"errors"
	"testing"
)

func TestUnknownKey(t *testing.T) {
	allowed := []string{"steps", "base", "env"}
	for _, c := range []struct{ key, want string }{
		{"stpes", `unknown key "stpes" in stage (did you mean "steps"?)`},
		{"STEPS", `unknown key "STEPS" in stage (did you mean "steps"?)`},
		{"xy", `unknown key "xy" in stage (allowed: steps, base, env)`},
		{"completelyelse", `unknown key "completelyelse" in stage (allowed: steps, base, env)`},
	} {
		if got := UnknownKey(c.key, "stage", allowed); got != c.want {
			t.Errorf("UnknownKey(%q) = %s, want %s", c.key, got, c.want)
		}
	}
}

// Readers with their own wording for these match the causes, not the text.
func TestCauses(t *testing.T) {
	for src, want := range map[string]error{
		"a: [1\n":           ErrSyntax,
		"a: 1\n---\nb: 2\n": ErrMultipleDocs,
		"# nothing\n":       ErrEmpty,
	} {
		if _, err := Parse("f.yaml", []byte(src), Limits{}); !errors.Is(err, want) {
			t.Errorf("%q: got %v, want %v", src, err, want)
		}
	}
}
