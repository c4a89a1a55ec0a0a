package schedule

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func ready(names ...string) []Node {
	out := make([]Node, len(names))
	for i, n := range names {
		out[i] = Node{Name: n, Ready: true}
	}
	return out
}

func key(svc string, i int) Key { return Key{"d", svc, i} }

func svc(name string, count int, sel ...string) Service {
	s := Service{Deployment: "d", Service: name, Count: count}
	for i := 0; i+1 < len(sel); i += 2 {
		if s.Selector == nil {
			s.Selector = map[string]string{}
		}
		s.Selector[sel[i]] = sel[i+1]
	}
	return s
}

// perNode counts the replicas of the (applied) assignments on each node.
func perNode(cur map[Key]Assignment) map[string]int {
	out := map[string]int{}
	for _, a := range cur {
		out[a.Node]++
	}
	return out
}

func TestEligibleNodesOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		node Node
		svc  Service
	}{
		{"not ready", Node{Name: "x"}, svc("web", 1)},
		{"cordoned", Node{Name: "x", Ready: true, Cordoned: true}, svc("web", 1)},
		{"draining", Node{Name: "x", Ready: true, Draining: true}, svc("web", 1)},
		{"selector value differs", Node{Name: "x", Ready: true, Labels: map[string]string{"disk": "hdd"}}, svc("web", 1, "disk", "ssd")},
		{"selector key missing", Node{Name: "x", Ready: true, Labels: map[string]string{"zone": "a"}}, svc("web", 1, "disk", "ssd", "zone", "a")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good := Node{Name: "z", Ready: true, Labels: map[string]string{"disk": "ssd", "zone": "a"}}
			// "x" sorts first and is empty: it would win every tie if it were eligible.
			tc.svc.Count = 3
			p := Compute(Input{Nodes: []Node{tc.node, good}, Services: []Service{tc.svc}})
			if len(p.Set) != 3 || len(p.Pending) != 0 {
				t.Fatalf("plan %+v", p)
			}
			for k, a := range p.Set {
				if a != (Assignment{Node: "z"}) {
					t.Errorf("%v on %+v, want z", k, a)
				}
			}
			p = Compute(Input{Nodes: []Node{tc.node}, Services: []Service{tc.svc}})
			if len(p.Set) != 0 || len(p.Pending) != 3 {
				t.Errorf("with only %s: plan %+v", tc.name, p)
			}
		})
	}
}

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		count int
		want  map[string]int
	}{
		{6, map[string]int{"a": 2, "b": 2, "c": 1, "d": 1}},
		{30, map[string]int{"a": 8, "b": 8, "c": 7, "d": 7}},
		{3, map[string]int{"a": 1, "b": 1, "c": 1}},
	} {
		// Input order does not matter: ties go by name.
		p := Compute(Input{Nodes: ready("d", "b", "c", "a"), Services: []Service{svc("web", tc.count)}})
		if got := perNode(p.Set); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%d replicas: %v, want %v", tc.count, got, tc.want)
		}
		if len(p.Set) != tc.count {
			t.Errorf("%d replicas: %d set", tc.count, len(p.Set))
		}
	}
}

// The second tie-break is the node's replicas of every service, including
// what this plan placed just before.
func TestSpreadCountsOtherServices(t *testing.T) {
	p := Compute(Input{
		Nodes:    ready("a", "b", "c"),
		Services: []Service{svc("api", 2), svc("web", 1)},
		Current:  map[Key]Assignment{{"other", "db", 1}: {Node: "c"}},
	})
	// db is gone: deleted, it counts for nothing, and c is the emptiest.
	want := map[Key]Assignment{
		key("api", 1): {Node: "a"},
		key("api", 2): {Node: "b"},
		key("web", 1): {Node: "c"},
	}
	if !reflect.DeepEqual(p.Set, want) || !reflect.DeepEqual(p.Delete, []Key{{"other", "db", 1}}) {
		t.Errorf("plan %+v", p)
	}

	p = Compute(Input{
		Nodes:    ready("a", "b", "c"),
		Services: []Service{svc("api", 2), svc("db", 1), svc("web", 1)},
		Current:  map[Key]Assignment{key("db", 1): {Node: "c"}},
	})
	// api goes to a and b; then a, b and c hold one replica each: the name
	// decides.
	if p.Set[key("web", 1)].Node != "a" {
		t.Errorf("web on %v, want a", p.Set[key("web", 1)])
	}
	p = Compute(Input{
		Nodes:    ready("a", "b", "c"),
		Services: []Service{svc("db", 1), svc("web", 1)},
		Current:  map[Key]Assignment{key("db", 1): {Node: "a"}},
	})
	if p.Set[key("web", 1)].Node != "b" {
		t.Errorf("web on %v, want b (a holds db)", p.Set[key("web", 1)])
	}
}

func TestStable(t *testing.T) {
	cur := map[Key]Assignment{
		key("web", 1): {Node: "a"},
		key("web", 2): {Node: "a"},
		key("web", 3): {Node: "a"},
		key("api", 1): {Node: "c"}, // c is cordoned: it keeps what it has
	}
	nodes := ready("a", "b")
	nodes = append(nodes, Node{Name: "c", Ready: true, Cordoned: true})
	p := Compute(Input{Nodes: nodes, Services: []Service{svc("web", 3), svc("api", 1)}, Current: cur})
	if !p.Empty() || len(p.Pending) != 0 {
		t.Errorf("unbalanced but healthy placement changed: %+v", p)
	}
	// Scaling up places only the new index, on the emptiest node.
	p = Compute(Input{Nodes: nodes, Services: []Service{svc("web", 4), svc("api", 1)}, Current: cur})
	if want := map[Key]Assignment{key("web", 4): {Node: "b"}}; !reflect.DeepEqual(p.Set, want) || len(p.Delete) != 0 {
		t.Errorf("scale up: %+v", p)
	}
}

func TestFailover(t *testing.T) {
	cur := map[Key]Assignment{
		key("web", 1): {Node: "a"},
		key("web", 2): {Node: "b"},
		key("web", 3): {Node: "b"},
		key("web", 4): {Node: "c"},
		key("api", 1): {Node: "gone"}, // a node not in the list is not ready
	}
	nodes := []Node{{Name: "a", Ready: true}, {Name: "b"}, {Name: "c", Ready: true}, {Name: "d", Ready: true}}
	p := Compute(Input{Nodes: nodes, Services: []Service{svc("web", 4), svc("api", 1)}, Current: cur})
	want := map[Key]Assignment{
		key("api", 1): {Node: "d"}, // api first: d holds nothing
		key("web", 2): {Node: "d"}, // d has no web
		key("web", 3): {Node: "a"}, // a, c, d one web each; d has api too
	}
	if !reflect.DeepEqual(p.Set, want) || len(p.Pending) != 0 {
		t.Errorf("plan %+v, want set %v", p, want)
	}

	// With nowhere to go they stay put, and say why.
	nodes = []Node{{Name: "a", Ready: true, Cordoned: true}, {Name: "b"}}
	cur = map[Key]Assignment{key("web", 1): {Node: "a"}, key("web", 2): {Node: "b"}}
	p = Compute(Input{Nodes: nodes, Services: []Service{svc("web", 2)}, Current: cur})
	wantPending := []Pending{{key("web", 2), "node b is not ready; every ready node is cordoned or draining"}}
	if !p.Empty() || !reflect.DeepEqual(p.Pending, wantPending) {
		t.Errorf("plan %+v", p)
	}
}

// A move whose new node dies goes elsewhere and keeps waiting on its old
// node, which still runs it.
func TestFailoverOfAMoveKeepsFrom(t *testing.T) {
	nodes := []Node{{Name: "a", Ready: true, Draining: true}, {Name: "b"}, {Name: "c", Ready: true}}
	cur := map[Key]Assignment{key("web", 1): {Node: "b", From: "a"}}
	p := Compute(Input{Nodes: nodes, Services: []Service{svc("web", 1)}, Current: cur})
	if want := map[Key]Assignment{key("web", 1): {Node: "c", From: "a"}}; !reflect.DeepEqual(p.Set, want) {
		t.Errorf("plan %+v", p)
	}
	// The old node gone too: nothing to wait for.
	nodes[0].Ready = false
	p = Compute(Input{Nodes: nodes, Services: []Service{svc("web", 1)}, Current: cur})
	if want := map[Key]Assignment{key("web", 1): {Node: "c"}}; !reflect.DeepEqual(p.Set, want) {
		t.Errorf("plan %+v", p)
	}
}

// drain feeds each plan back, making the moved replicas ready on their new
// nodes, until nothing changes; it returns the assignments after each step.
func drain(t *testing.T, in Input) []map[Key]Assignment {
	t.Helper()
	var steps []map[Key]Assignment
	for range 20 {
		p := Compute(in)
		if p.Empty() {
			return steps
		}
		in.Current = p.Apply(in.Current)
		steps = append(steps, in.Current)
		in.Ready = map[Key]map[string]bool{}
		for k, a := range in.Current {
			in.Ready[k] = map[string]bool{a.Node: true}
			if a.From != "" {
				// The old one is still there and ready: it must not count
				// as the new one.
				in.Ready[k][a.From] = true
			}
		}
	}
	t.Fatal("did not settle in 20 steps")
	return nil
}

func TestDrainMovesOneAtATime(t *testing.T) {
	nodes := ready("a", "b", "c")
	nodes[0].Draining = true
	cur := map[Key]Assignment{
		key("web", 1): {Node: "a"},
		key("web", 2): {Node: "a"},
		key("api", 1): {Node: "a"},
		key("web", 3): {Node: "b"},
	}
	steps := drain(t, Input{Nodes: nodes, Services: []Service{svc("web", 3), svc("api", 1)}, Current: cur})
	// Three moves, each in flight alone (From: a) while the previous one is
	// done, then a last step that clears the third From.
	if len(steps) != 4 {
		t.Fatalf("%d steps, want 4: %v", len(steps), steps)
	}
	wantMoving, wantOnA := []int{1, 1, 1, 0}, []int{2, 1, 0, 0}
	for i, s := range steps {
		moving, onA := 0, 0
		for _, a := range s {
			if a.From != "" {
				moving++
				if a.From != "a" {
					t.Errorf("step %d: moving from %s", i, a.From)
				}
			}
			if a.Node == "a" {
				onA++
			}
		}
		if moving != wantMoving[i] || onA != wantOnA[i] {
			t.Errorf("step %d: %d moving and %d left on a, want %d and %d: %v", i, moving, onA, wantMoving[i], wantOnA[i], s)
		}
	}
	final := steps[3]
	if got := perNode(final); got["a"] != 0 || got["b"]+got["c"] != 4 {
		t.Errorf("final %v", final)
	}
	for k, a := range final {
		if a.From != "" {
			t.Errorf("%v still moving: %+v", k, a)
		}
	}
}

// The new replica never became ready: the drain waits, the old one runs on.
func TestDrainWaitsForReady(t *testing.T) {
	nodes := ready("a", "b")
	nodes[0].Draining = true
	in := Input{Nodes: nodes, Services: []Service{svc("web", 2)}, Current: map[Key]Assignment{
		key("web", 1): {Node: "a"}, key("web", 2): {Node: "a"},
	}}
	p := Compute(in)
	if want := map[Key]Assignment{key("web", 1): {Node: "b", From: "a"}}; !reflect.DeepEqual(p.Set, want) {
		t.Fatalf("first step %+v", p)
	}
	in.Current = p.Apply(in.Current)
	in.Ready = map[Key]map[string]bool{key("web", 1): {"a": true}} // only the old one is ready
	if p := Compute(in); !p.Empty() {
		t.Errorf("moved on before the new one was ready: %+v", p)
	}
	// Its old node dies: From is cleared at once, and web/2 fails over.
	in.Nodes[0].Ready = false
	p = Compute(in)
	want := map[Key]Assignment{key("web", 1): {Node: "b"}, key("web", 2): {Node: "b"}}
	if !reflect.DeepEqual(p.Set, want) {
		t.Errorf("old node gone: %+v", p)
	}
}

func TestDrainWithNowhereToGo(t *testing.T) {
	nodes := []Node{{Name: "a", Ready: true, Draining: true}, {Name: "b", Ready: true, Cordoned: true}}
	p := Compute(Input{Nodes: nodes, Services: []Service{svc("web", 1)}, Current: map[Key]Assignment{key("web", 1): {Node: "a"}}})
	want := []Pending{{key("web", 1), "node a is draining; every ready node is cordoned or draining"}}
	if !p.Empty() || !reflect.DeepEqual(p.Pending, want) {
		t.Errorf("plan %+v", p)
	}
}

// Two draining nodes each move one replica at a time, at the same time.
func TestDrainIsPerNode(t *testing.T) {
	nodes := ready("a", "b", "c")
	nodes[0].Draining, nodes[1].Draining = true, true
	cur := map[Key]Assignment{
		key("web", 1): {Node: "a"}, key("web", 2): {Node: "a"},
		key("web", 3): {Node: "b"}, key("web", 4): {Node: "b"},
	}
	p := Compute(Input{Nodes: nodes, Services: []Service{svc("web", 4)}, Current: cur})
	want := map[Key]Assignment{key("web", 1): {Node: "c", From: "a"}, key("web", 3): {Node: "c", From: "b"}}
	if !reflect.DeepEqual(p.Set, want) {
		t.Errorf("plan %+v", p)
	}
}

func TestSelectorChange(t *testing.T) {
	nodes := []Node{
		{Name: "a", Ready: true, Labels: map[string]string{"disk": "hdd"}},
		{Name: "b", Ready: true, Labels: map[string]string{"disk": "ssd"}},
		{Name: "c", Ready: true, Labels: map[string]string{"disk": "ssd"}},
	}
	cur := map[Key]Assignment{
		key("web", 1): {Node: "a"}, key("web", 2): {Node: "a"}, key("web", 3): {Node: "b"},
		key("api", 1): {Node: "a"}, key("api", 2): {Node: "a"},
		key("log", 1): {Node: "a"}, // no selector: stays
	}
	in := Input{Nodes: nodes, Services: []Service{svc("web", 3, "disk", "ssd"), svc("api", 2, "disk", "ssd"), svc("log", 1)}, Current: cur}
	p := Compute(in)
	// One move per service at a time, both services at once.
	// api goes first (services in name order) to c, which is empty; web to
	// c as well, since b holds web/3 already.
	want := map[Key]Assignment{key("api", 1): {Node: "c", From: "a"}, key("web", 1): {Node: "c", From: "a"}}
	if !reflect.DeepEqual(p.Set, want) {
		t.Errorf("first step %+v", p)
	}
	steps := drain(t, in)
	final := steps[len(steps)-1]
	for k, a := range final {
		if k.Service != "log" && a.Node == "a" || a.From != "" {
			t.Errorf("%v: %+v", k, a)
		}
	}
	if final[key("log", 1)].Node != "a" {
		t.Errorf("log moved: %+v", final[key("log", 1)])
	}
	// A selector nothing matches: the replicas stay where they are, pending.
	in.Services[0] = svc("web", 3, "disk", "nvme")
	in.Current = final
	p = Compute(in)
	if !p.Empty() || len(p.Pending) != 3 {
		t.Fatalf("plan %+v", p)
	}
	if r := p.Pending[len(p.Pending)-1].Reason; r != "node b no longer matches node_selector {disk: nvme}; no ready node matches node_selector {disk: nvme}" {
		t.Errorf("reason %q", r)
	}
}

// Node labels changing is the same as the selector changing.
func TestNodeLabelsChange(t *testing.T) {
	nodes := []Node{
		{Name: "a", Ready: true, Labels: map[string]string{"disk": "hdd"}},
		{Name: "b", Ready: true, Labels: map[string]string{"disk": "ssd"}},
	}
	cur := map[Key]Assignment{key("web", 1): {Node: "a"}}
	p := Compute(Input{Nodes: nodes, Services: []Service{svc("web", 1, "disk", "ssd")}, Current: cur})
	if want := map[Key]Assignment{key("web", 1): {Node: "b", From: "a"}}; !reflect.DeepEqual(p.Set, want) {
		t.Errorf("plan %+v", p)
	}
	// Already ready there (it ran there before): no need to wait.
	p = Compute(Input{Nodes: nodes, Services: []Service{svc("web", 1, "disk", "ssd")}, Current: cur,
		Ready: map[Key]map[string]bool{key("web", 1): {"b": true}}})
	if want := map[Key]Assignment{key("web", 1): {Node: "b"}}; !reflect.DeepEqual(p.Set, want) {
		t.Errorf("plan %+v", p)
	}
}

func TestFromCleared(t *testing.T) {
	nodes := []Node{{Name: "a", Ready: true, Draining: true}, {Name: "b", Ready: true}, {Name: "c"}}
	cur := map[Key]Assignment{
		key("web", 1): {Node: "b", From: "a"}, // waits: not ready on b
		key("web", 2): {Node: "b", From: "c"}, // c is not ready: cleared
		key("web", 3): {Node: "b", From: "b"}, // nonsense: cleared
		key("web", 4): {Node: "b", From: "a"}, // ready on b: cleared
	}
	rd := map[Key]map[string]bool{key("web", 1): {"a": true}, key("web", 4): {"b": true}}
	p := Compute(Input{Nodes: nodes, Services: []Service{svc("web", 4)}, Current: cur, Ready: rd})
	want := map[Key]Assignment{key("web", 2): {Node: "b"}, key("web", 3): {Node: "b"}, key("web", 4): {Node: "b"}}
	if !reflect.DeepEqual(p.Set, want) {
		t.Errorf("plan %+v", p)
	}
}

func TestScale(t *testing.T) {
	cur := map[Key]Assignment{
		key("web", 1): {Node: "a"}, key("web", 2): {Node: "b"}, key("web", 3): {Node: "a"},
		key("web", 0):   {Node: "a"}, // never valid
		{"old", "x", 2}: {Node: "b"}, {"old", "x", 1}: {Node: "b"},
		key("zero", 1): {Node: "a"},
	}
	p := Compute(Input{Nodes: ready("a", "b"), Services: []Service{svc("web", 1), svc("zero", 0), svc("api", 2)}, Current: cur})
	wantDel := []Key{key("web", 0), key("web", 2), key("web", 3), key("zero", 1), {"old", "x", 1}, {"old", "x", 2}}
	slices.SortFunc(wantDel, compareKeys)
	if !reflect.DeepEqual(p.Delete, wantDel) {
		t.Errorf("delete %v, want %v", p.Delete, wantDel)
	}
	// Deleted replicas count for nothing: a keeps web/1, so api goes b, a.
	if want := map[Key]Assignment{key("api", 1): {Node: "b"}, key("api", 2): {Node: "a"}}; !reflect.DeepEqual(p.Set, want) {
		t.Errorf("set %v, want %v", p.Set, want)
	}
}

func TestPendingReasons(t *testing.T) {
	for _, tc := range []struct {
		nodes []Node
		svc   Service
		want  string
	}{
		{nil, svc("web", 1), "no node is ready"},
		{[]Node{{Name: "a"}}, svc("web", 1), "no node is ready"},
		{[]Node{{Name: "a", Ready: true, Draining: true}}, svc("web", 1), "every ready node is cordoned or draining"},
		{[]Node{{Name: "a", Ready: true}}, svc("web", 1, "zone", "b", "disk", "ssd"), "no ready node matches node_selector {disk: ssd, zone: b}"},
		{[]Node{{Name: "a", Ready: true}, {Name: "b", Ready: true, Cordoned: true, Labels: map[string]string{"disk": "ssd"}}}, svc("web", 1, "disk", "ssd"),
			"no ready node matches node_selector {disk: ssd} (the ones that do are cordoned or draining)"},
	} {
		p := Compute(Input{Nodes: tc.nodes, Services: []Service{tc.svc}})
		if want := []Pending{{key("web", 1), tc.want}}; !reflect.DeepEqual(p.Pending, want) || !p.Empty() {
			t.Errorf("%v: %+v, want %q", tc.nodes, p, tc.want)
		}
	}
}

func TestApplyLeavesCurrentAlone(t *testing.T) {
	cur := map[Key]Assignment{key("web", 1): {Node: "a"}, key("web", 2): {Node: "a"}}
	p := Plan{Set: map[Key]Assignment{key("web", 1): {Node: "b"}}, Delete: []Key{key("web", 2)}}
	got := p.Apply(cur)
	if want := map[Key]Assignment{key("web", 1): {Node: "b"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("applied %v", got)
	}
	if len(cur) != 2 || cur[key("web", 1)].Node != "a" {
		t.Errorf("current changed: %v", cur)
	}
	if got := (Plan{}).Apply(nil); got == nil || len(got) != 0 {
		t.Errorf("empty apply %v", got)
	}
}

// randomInput makes a cluster in every state the rules know: nodes ready or
// not, cordoned, draining, labelled; services with selectors; assignments on
// known, unknown and unready nodes, some moving, some ready somewhere.
func randomInput(r *rand.Rand) Input {
	labels := func() map[string]string {
		m := map[string]string{}
		for _, k := range []string{"disk", "zone"} {
			if r.IntN(3) > 0 {
				m[k] = []string{"a", "b"}[r.IntN(2)]
			}
		}
		return m
	}
	var in Input
	nn := r.IntN(6)
	var names []string
	for i := range nn {
		n := Node{Name: fmt.Sprintf("n%d", i), Ready: r.IntN(4) > 0, Cordoned: r.IntN(5) == 0, Draining: r.IntN(5) == 0, Labels: labels()}
		in.Nodes = append(in.Nodes, n)
		names = append(names, n.Name)
	}
	names = append(names, "ghost", "")
	for i := range r.IntN(5) {
		s := Service{Deployment: fmt.Sprintf("d%d", i%2), Service: fmt.Sprintf("s%d", i), Count: r.IntN(6)}
		if r.IntN(2) == 0 {
			s.Selector = labels()
		}
		in.Services = append(in.Services, s)
	}
	in.Current = map[Key]Assignment{}
	in.Ready = map[Key]map[string]bool{}
	for i := range r.IntN(5) {
		for idx := range r.IntN(7) {
			k := Key{fmt.Sprintf("d%d", i%2), fmt.Sprintf("s%d", i), idx}
			if r.IntN(3) == 0 {
				continue
			}
			a := Assignment{Node: names[r.IntN(len(names))]}
			if r.IntN(3) == 0 {
				a.From = names[r.IntN(len(names))]
			}
			in.Current[k] = a
			if r.IntN(2) == 0 {
				in.Ready[k] = map[string]bool{names[r.IntN(len(names))]: true}
			}
		}
	}
	return in
}

// Applying a plan and computing again changes nothing; the plan does not
// depend on input order; a replica it moves goes to a ready node whose
// labels match; every wanted index is assigned or pending; and no From is
// left pointing at a node that is gone.
func TestPropertiesOnRandomInputs(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 2026))
	for i := range 5000 {
		in := randomInput(r)
		p := Compute(in)
		if q := Compute(in); !reflect.DeepEqual(p, q) {
			t.Fatalf("input %d: two runs differ:\n%+v\n%+v", i, p, q)
		}
		shuffled := in
		shuffled.Nodes = slices.Clone(in.Nodes)
		shuffled.Services = slices.Clone(in.Services)
		r.Shuffle(len(shuffled.Nodes), func(a, b int) { shuffled.Nodes[a], shuffled.Nodes[b] = shuffled.Nodes[b], shuffled.Nodes[a] })
		r.Shuffle(len(shuffled.Services), func(a, b int) {
			shuffled.Services[a], shuffled.Services[b] = shuffled.Services[b], shuffled.Services[a]
		})
		if q := Compute(shuffled); !reflect.DeepEqual(p, q) {
			t.Fatalf("input %d: order changed the plan:\n%+v\n%+v", i, p, q)
		}

		next := in
		next.Current = p.Apply(in.Current)
		if q := Compute(next); !q.Empty() {
			t.Fatalf("input %d: not idempotent:\ninput %+v\nfirst %+v\nsecond %+v", i, in, p, q)
		}

		nodes := map[string]Node{}
		for _, n := range in.Nodes {
			nodes[n.Name] = n
		}
		pending := map[Key]bool{}
		for _, pe := range p.Pending {
			pending[pe.Key] = true
		}
		for _, s := range in.Services {
			for idx := 1; idx <= s.Count; idx++ {
				k := Key{s.Deployment, s.Service, idx}
				a, ok := next.Current[k]
				if !ok && !pending[k] {
					t.Fatalf("input %d: %v neither assigned nor pending", i, k)
				}
				// A new node is always eligible in its labels; a set on the
				// same node only clears From.
				if set, ok := p.Set[k]; ok && set.Node != in.Current[k].Node {
					n := nodes[set.Node]
					if !n.Ready || !matches(s.Selector, n.Labels) {
						t.Fatalf("input %d: %v set on %+v", i, k, n)
					}
				}
				if a.From != "" && (a.From == a.Node || !nodes[a.From].Ready) {
					t.Fatalf("input %d: %v left moving from %q:\ninput %+v\nplan %+v", i, k, a.From, in, p)
				}
			}
		}
		// A draining node has at most one move in flight once a new one starts.
		for k, set := range p.Set {
			if set.From == "" || set.From == in.Current[k].From || !nodes[set.From].Draining {
				continue
			}
			for k2, a := range next.Current {
				// (A move whose new node died with nowhere else to go is not
				// in flight: it does not hold up the drain.)
				if k2 != k && a.From == set.From && nodes[a.Node].Ready {
					t.Fatalf("input %d: %v moves from draining %s beside %v:\ninput %+v\nplan %+v", i, k, set.From, k2, in, p)
				}
			}
		}
		for k, a := range next.Current {
			if k.Index < 1 || !slices.ContainsFunc(in.Services, func(s Service) bool {
				return s.Deployment == k.Deployment && s.Service == k.Service && k.Index <= s.Count
			}) {
				t.Fatalf("input %d: %v (%+v) kept past its service", i, k, a)
			}
		}
	}
}

func BenchmarkCompute(b *testing.B) {
	var in Input
	for i := range 100 {
		n := Node{Name: fmt.Sprintf("node-%03d", i), Ready: i%17 != 0, Draining: i%23 == 0, Labels: map[string]string{"zone": fmt.Sprint(i % 3)}}
		in.Nodes = append(in.Nodes, n)
	}
	in.Current = map[Key]Assignment{}
	for i := range 1000 {
		s := Service{Deployment: fmt.Sprintf("dep-%d", i/10), Service: fmt.Sprintf("svc-%d", i), Count: 3 + i%5}
		if i%4 == 0 {
			s.Selector = map[string]string{"zone": fmt.Sprint(i % 3)}
		}
		in.Services = append(in.Services, s)
		// Half the services are placed already, on any node.
		if i%2 == 0 {
			for idx := 1; idx <= s.Count; idx++ {
				in.Current[Key{s.Deployment, s.Service, idx}] = Assignment{Node: in.Nodes[(i+idx)%100].Name}
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Compute(in)
	}
}
