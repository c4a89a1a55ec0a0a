package reconcile

import (
	"fmt"
	"testing"
)

// sim is a service's replicas as plan sees them, stepped the way passes
// and containers move: a new replica gets ready one step after it was
// made, a stopping one is gone one step after it began stopping.
type sim struct {
	states   map[int]slotState
	stopping map[int]bool // old replica stopping (stop-first) before the new one is made
}

func newSim(n int) *sim {
	s := &sim{states: map[int]slotState{}, stopping: map[int]bool{}}
	for i := 1; i <= n; i++ {
		s.states[i] = slotState{hasOld: true, oldReady: true}
	}
	return s
}

func (s *sim) ready() int {
	n := 0
	for _, st := range s.states {
		if st.curReady || (st.oldReady && !st.removing) {
			n++
		}
	}
	return n
}

// step moves every replica one step on, then applies a plan.
func (s *sim) step(parallelism, surge int, stopFirst bool) map[int]bool {
	for i, st := range s.states {
		switch {
		case st.removing && s.stopping[i]:
			// Stop-first: the old one is gone, its replacement is made.
			st = slotState{hasCur: true}
			delete(s.stopping, i)
		case st.removing:
			st.removing, st.hasOld, st.oldReady = false, false, false
		case st.hasCur && !st.curReady:
			st.curReady = true
		case st.hasCur && st.curReady && st.hasOld:
			st.removing = true // the controller stops the old one
		}
		s.states[i] = st
	}
	rolls := plan(s.states, parallelism, surge, stopFirst)
	for i, sf := range rolls {
		st := s.states[i]
		if sf {
			st.removing, st.oldReady = true, false
			s.stopping[i] = true
		} else {
			st.hasCur = true
		}
		s.states[i] = st
	}
	return rolls
}

func (s *sim) done() bool {
	for _, st := range s.states {
		if !st.hasCur || !st.curReady || st.hasOld || st.removing {
			return false
		}
	}
	return true
}

func TestPlanKeepsCountMinusParallelismReady(t *testing.T) {
	for _, tc := range []struct {
		n, parallelism, surge int
		stopFirst             bool
	}{
		{5, 1, 1, false}, {5, 2, 2, false}, {5, 2, 1, false}, {5, 2, 0, false},
		{5, 2, 0, true}, {5, 1, 0, true}, {3, 5, 5, false}, {4, 3, 1, true},
	} {
		t.Run(fmt.Sprintf("n%d-p%d-s%d-stopfirst%v", tc.n, tc.parallelism, tc.surge, tc.stopFirst), func(t *testing.T) {
			s := newSim(tc.n)
			maxAtOnce := 0
			for steps := 0; !s.done(); steps++ {
				if steps > 10*tc.n {
					t.Fatalf("rollout did not finish: %+v", s.states)
				}
				rolls := s.step(tc.parallelism, tc.surge, tc.stopFirst)
				maxAtOnce = max(maxAtOnce, len(rolls))
				if got, floor := s.ready(), tc.n-tc.parallelism; got < floor {
					t.Fatalf("step %d: %d ready, below %d: %+v", steps, got, floor, s.states)
				}
				surging := 0
				for _, st := range s.states {
					if st.hasCur && st.hasOld {
						surging++
					}
				}
				if surging > tc.surge {
					t.Fatalf("step %d: %d indices surge, max_surge %d", steps, surging, tc.surge)
				}
			}
			if want := min(tc.parallelism, tc.n); maxAtOnce != want {
				t.Errorf("at most %d rolls started at once, want %d", maxAtOnce, want)
			}
		})
	}
}

// An index that is not ready anyway (its old replica crash-loops) rolls
// even when parallelism is used up by nothing else, and the lowest
// indices go first.
func TestPlanOrderAndUnreadyIndex(t *testing.T) {
	states := map[int]slotState{
		1: {hasOld: true, oldReady: false},
		2: {hasOld: true, oldReady: true},
		3: {hasOld: true, oldReady: true},
	}
	if got := plan(states, 1, 1, false); len(got) != 1 || got[1] {
		t.Fatalf("plan %v, want index 1 start-first", got)
	}
	// A replica still stopping keeps its index busy.
	states[1] = slotState{removing: true}
	if got := plan(states, 1, 1, false); len(got) != 0 {
		t.Fatalf("plan %v with a replica stopping and parallelism 1", got)
	}
	if got := plan(states, 2, 1, false); len(got) != 1 || got[2] {
		t.Fatalf("plan %v, want index 2 start-first", got)
	}
	// Past max_surge, replacements stop the old replica first.
	states = map[int]slotState{1: {hasOld: true, oldReady: true}, 2: {hasOld: true, oldReady: true}, 3: {hasOld: true, oldReady: true}}
	if got := plan(states, 3, 1, false); len(got) != 3 || got[1] || !got[2] || !got[3] {
		t.Fatalf("plan %v, want 1 start-first, 2 and 3 stop-first", got)
	}
}
