package yamldoc

import "testing"

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
