// Package scenario runs named integration tests on one shared fixture (a
// stack or node started once), each a subtest, so a failure names the
// behaviour and a test reads as the list of behaviours it checks: Each for
// tests that stand alone, Run for a story whose steps build on each other.
package scenario

import "testing"

// Step is one named behaviour of a story, checked on the shared fixture F.
type Step[F any] struct {
	Name string
	Run  func(t *testing.T, fx F)
}

// Run runs steps in order as subtests of t. A step builds on the state the
// steps before it left (a deployment made, a daemon killed), so:
//   - a step that -run leaves out still runs, directly in t, as setup for
//     the steps after it: `-run 'TestX/scale'` reports the scale step alone
//     but on the node the story brought it to;
//   - a step that stops early (t.Fatal, t.Skip) ends the story, as it did
//     when the story was one function: the steps after it would check a
//     state it never reached.
func Run[F any](t *testing.T, fx F, steps []Step[F]) {
	t.Helper()
	for _, st := range steps {
		ran, finished := false, false
		t.Run(st.Name, func(t *testing.T) {
			ran = true
			st.Run(t, fx)
			finished = true
		})
		if !ran {
			st.Run(t, fx)
			continue
		}
		if !finished {
			t.Logf("story stopped at %q; the steps after it were not run", st.Name)
			return
		}
	}
}

// Each runs tests in order as subtests of t on one fixture. Unlike a
// story's steps they stand alone: -run picks any one by itself, and one
// failing does not stop the ones after it.
func Each[F any](t *testing.T, fx F, tests []Step[F]) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.Name, func(t *testing.T) { tc.Run(t, fx) })
	}
}
