// Package schedule decides which node runs each replica of a cluster. It is
// one pure function, Compute: no etcd, no I/O, no clock. The cluster's
// scheduler (the etcd election's leader) calls it on every change with what
// it read and writes the plan's difference back.
//
// The rules, each held by a test in schedule_test.go:
//
//   - Eligible. A node takes new replicas when it is Ready (its lease is
//     alive), not Cordoned, not Draining, and its labels carry every pair of
//     the service's node_selector.
//   - Spread. Each replica without a node goes to the eligible node with the
//     fewest replicas of that service, then the fewest replicas overall
//     (counting what this plan has placed so far), ties broken by node name:
//     6 replicas on 4 nodes go 2/2/1/1, 30 go 8/8/7/7.
//   - Stable. An assignment on a Ready node whose labels still match the
//     selector is kept, however unbalanced: nothing is rebalanced, and a
//     cordoned node keeps what it runs. Compute of its own output (applied
//     with Plan.Apply, with the same nodes, services and Ready) changes
//     nothing.
//   - Failover. The replicas of a node that is not Ready (or not known) are
//     assigned to eligible nodes at once, without From: the old node is
//     gone. With no eligible node they stay where they are, and are Pending.
//   - Moves. A replica on a Draining node, or on a node whose labels no
//     longer match its service's selector, moves with From set to the old
//     node, which keeps running it until the new one is ready. One move is
//     in flight at a time per draining node, and per service for selector
//     changes. When Ready says the replica is ready on its new node, the plan
//     clears From and the next replica of that node (or service) moves in
//     the same plan. A From whose node is not Ready any more is cleared at
//     once: there is nothing left to wait for. A replica whose new node is
//     already ready when it is chosen moves without From.
//   - Scale. Indices above Count, and every index of a service that is
//     gone, are in Delete; new indices are placed by the spread rule.
//   - Deterministic. The same input gives the same plan, whatever the order
//     of Nodes and Services: map iteration never reaches the result.
//
// Replicas are placed in this order, which is what "so far" means in the
// spread rule: every failover, then every move, then every new index, each
// in (deployment, service, index) order. A move waiting for a busy group is
// not Pending: it has somewhere to go, later. A move whose new node died
// goes elsewhere keeping From, since the old node still runs it; with
// nowhere to go it does not hold up the rest of the drain.
//
// Compute trusts Count to be bounded (the spec allows at most 1000): it
// looks at every eligible node for each replica it places.
package schedule

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Node is one cluster node as the scheduler sees it.
type Node struct {
	Name               string
	Ready              bool // lease alive
	Cordoned, Draining bool
	Labels             map[string]string
}

// Service is one service of a deployment and how many replicas it wants.
type Service struct {
	Deployment, Service string
	Count               int
	// Selector is the service's node_selector: every pair must match a
	// node label.
	Selector map[string]string
}

// Key names one replica; Index runs from 1 to Count.
type Key struct {
	Deployment, Service string
	Index               int
}

func (k Key) String() string { return fmt.Sprintf("%s/%s/%d", k.Deployment, k.Service, k.Index) }

// Assignment is where a replica runs. From, when set, is the node it is
// moving away from: the replica keeps running there until the one on Node
// is ready.
type Assignment struct{ Node, From string }

// Input is what the scheduler read from the cluster state.
type Input struct {
	Nodes    []Node
	Services []Service
	Current  map[Key]Assignment
	// Ready says which replicas are ready where (from the nodes' published
	// status): Ready[key][node] is true when that node runs that index
	// ready on the current spec.
	Ready map[Key]map[string]bool
}

// Plan is what changes.
type Plan struct {
	Set     map[Key]Assignment // new or changed assignments only
	Delete  []Key              // assignments to remove (service gone, index > count), sorted
	Pending []Pending          // replicas that have nowhere to go, and why, sorted by key
}

// Pending is a replica that has no node to go to.
type Pending struct {
	Key    Key
	Reason string // e.g. `no ready node matches node_selector {disk: ssd}`
}

// Empty reports whether the plan writes nothing (Pending is only shown).
func (p Plan) Empty() bool { return len(p.Set) == 0 && len(p.Delete) == 0 }

// Apply returns current with the plan written into it, as the scheduler
// writes it to the cluster state; current is left as it was.
func (p Plan) Apply(current map[Key]Assignment) map[Key]Assignment {
	out := maps.Clone(current)
	if out == nil {
		out = map[Key]Assignment{}
	}
	for _, k := range p.Delete {
		delete(out, k)
	}
	maps.Copy(out, p.Set)
	return out
}

// Compute decides where every replica runs; see the package doc for the
// rules.
func Compute(in Input) Plan {
	s := newState(in)
	plan := Plan{Set: map[Key]Assignment{}}

	services := slices.Clone(in.Services)
	slices.SortStableFunc(services, func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.Deployment, b.Deployment), cmp.Compare(a.Service, b.Service))
	})
	services = slices.CompactFunc(services, func(a, b Service) bool {
		return a.Deployment == b.Deployment && a.Service == b.Service
	})
	byName := map[[2]string]*Service{}
	for i := range services {
		byName[[2]string{services[i].Deployment, services[i].Service}] = &services[i]
	}

	// Keys in order, and what is deleted.
	keys := slices.SortedFunc(maps.Keys(in.Current), compareKeys)
	kept := map[[2]string][]Key{}
	for _, k := range keys {
		svc := byName[[2]string{k.Deployment, k.Service}]
		if svc == nil || k.Index < 1 || k.Index > svc.Count {
			plan.Delete = append(plan.Delete, k)
			continue
		}
		kept[[2]string{k.Deployment, k.Service}] = append(kept[[2]string{k.Deployment, k.Service}], k)
		if a := in.Current[k]; s.ready(a.Node) {
			s.count(k, a.Node)
		}
	}

	// What stays, what waits on a move, what must move and what lost its node.
	type move struct {
		key    Key
		svc    *Service
		groups []string
		why    string
	}
	var failovers, moves []move
	for i := range services {
		svc := &services[i]
		for _, k := range kept[[2]string{svc.Deployment, svc.Service}] {
			a := in.Current[k]
			if !s.ready(a.Node) {
				failovers = append(failovers, move{key: k, svc: svc, why: fmt.Sprintf("node %s is not ready", or(a.Node, `""`))})
				continue
			}
			if a.From != "" && (a.From == a.Node || !s.ready(a.From) || in.Ready[k][a.Node]) {
				a.From = ""
				plan.Set[k] = a
			}
			if a.From != "" {
				// Still waiting for the new one: the move holds its groups.
				for _, g := range s.moveGroups(svc, a.From) {
					s.busy[g] = true
				}
				continue
			}
			if g := s.moveGroups(svc, a.Node); len(g) > 0 {
				why := fmt.Sprintf("node %s is draining", a.Node)
				if !s.node(a.Node).Draining {
					why = fmt.Sprintf("node %s no longer matches node_selector %s", a.Node, formatSelector(svc.Selector))
				}
				moves = append(moves, move{key: k, svc: svc, groups: g, why: why})
			}
		}
	}

	for _, f := range failovers {
		a := in.Current[f.key]
		node, ok := s.choose(f.svc)
		if !ok {
			plan.Pending = append(plan.Pending, Pending{f.key, f.why + "; " + s.reason(f.svc)})
			if a.From != "" && !s.ready(a.From) {
				plan.Set[f.key] = Assignment{Node: a.Node}
			}
			continue
		}
		from := a.From
		if from == node || !s.ready(from) || in.Ready[f.key][node] {
			from = ""
		}
		s.count(f.key, node)
		plan.Set[f.key] = Assignment{Node: node, From: from}
		if from != "" {
			for _, g := range s.moveGroups(f.svc, from) {
				s.busy[g] = true
			}
		}
	}

	for _, m := range moves {
		if slices.ContainsFunc(m.groups, func(g string) bool { return s.busy[g] }) {
			continue
		}
		node, ok := s.choose(m.svc)
		if !ok {
			plan.Pending = append(plan.Pending, Pending{m.key, m.why + "; " + s.reason(m.svc)})
			continue
		}
		old := in.Current[m.key].Node
		s.uncount(m.key, old)
		s.count(m.key, node)
		if in.Ready[m.key][node] {
			plan.Set[m.key] = Assignment{Node: node}
			continue
		}
		plan.Set[m.key] = Assignment{Node: node, From: old}
		for _, g := range m.groups {
			s.busy[g] = true
		}
	}

	for i := range services {
		svc := &services[i]
		for idx := 1; idx <= svc.Count; idx++ {
			k := Key{svc.Deployment, svc.Service, idx}
			if _, ok := in.Current[k]; ok {
				continue
			}
			node, ok := s.choose(svc)
			if !ok {
				plan.Pending = append(plan.Pending, Pending{k, s.reason(svc)})
				continue
			}
			s.count(k, node)
			plan.Set[k] = Assignment{Node: node}
		}
	}

	slices.SortFunc(plan.Pending, func(a, b Pending) int { return compareKeys(a.Key, b.Key) })
	return plan
}

// state is what Compute keeps while it places replicas. Nodes are numbered
// in name order, and counts kept in slices by that number: the spread looks
// at every eligible node for every replica it places.
type state struct {
	nodes map[string]int // name -> number
	list  []*Node        // by number, in name order: the spread's last tie-break
	// perService and total count the replicas on each node, of one service
	// and of all.
	perService map[[2]string][]int
	total      []int
	// busy marks the move groups ("drain:NODE", "selector:DEP/SVC") that
	// have a move in flight.
	busy map[string]bool
	// eligible caches each service's eligible nodes, in name order.
	eligible map[[2]string][]int
}

func newState(in Input) *state {
	s := &state{
		nodes:      map[string]int{},
		perService: map[[2]string][]int{},
		busy:       map[string]bool{},
		eligible:   map[[2]string][]int{},
	}
	nodes := slices.Clone(in.Nodes)
	slices.SortStableFunc(nodes, func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
	for i := range nodes {
		n := &nodes[i]
		if _, dup := s.nodes[n.Name]; dup || n.Name == "" {
			continue
		}
		s.nodes[n.Name] = len(s.list)
		s.list = append(s.list, n)
	}
	s.total = make([]int, len(s.list))
	return s
}

func (s *state) node(name string) *Node {
	if i, ok := s.nodes[name]; ok {
		return s.list[i]
	}
	return nil
}

func (s *state) ready(name string) bool {
	n := s.node(name)
	return n != nil && n.Ready
}

func (s *state) counts(k Key) []int {
	id := [2]string{k.Deployment, k.Service}
	c := s.perService[id]
	if c == nil {
		c = make([]int, len(s.list))
		s.perService[id] = c
	}
	return c
}

// count adds a replica of k's service on node, which must be known.
func (s *state) count(k Key, node string) {
	i := s.nodes[node]
	s.counts(k)[i]++
	s.total[i]++
}

func (s *state) uncount(k Key, node string) {
	i := s.nodes[node]
	if c := s.counts(k); c[i] > 0 {
		c[i]--
		s.total[i]--
	}
}

// moveGroups are the groups a replica of svc on node must move within:
// the node's drain, and the service's selector change. None means it stays.
func (s *state) moveGroups(svc *Service, node string) []string {
	n := s.node(node)
	if n == nil || !n.Ready {
		return nil
	}
	var g []string
	if n.Draining {
		g = append(g, "drain:"+node)
	}
	if !matches(svc.Selector, n.Labels) {
		g = append(g, "selector:"+svc.Deployment+"/"+svc.Service)
	}
	return g
}

// choose is the eligible node with the fewest replicas of svc, then the
// fewest overall, then the first by name.
func (s *state) choose(svc *Service) (string, bool) {
	id := [2]string{svc.Deployment, svc.Service}
	el, ok := s.eligible[id]
	if !ok {
		for i, n := range s.list {
			if n.Ready && !n.Cordoned && !n.Draining && matches(svc.Selector, n.Labels) {
				el = append(el, i)
			}
		}
		s.eligible[id] = el
	}
	if len(el) == 0 {
		return "", false
	}
	per := s.counts(Key{Deployment: svc.Deployment, Service: svc.Service})
	best := el[0]
	for _, i := range el[1:] {
		if per[i] < per[best] || per[i] == per[best] && s.total[i] < s.total[best] {
			best = i
		}
	}
	return s.list[best].Name, true
}

// reason says why no node is eligible for svc.
func (s *state) reason(svc *Service) string {
	var ready, schedulable, matchNotSchedulable bool
	for _, n := range s.list {
		if !n.Ready {
			continue
		}
		ready = true
		if !n.Cordoned && !n.Draining {
			schedulable = true
		} else if len(svc.Selector) > 0 && matches(svc.Selector, n.Labels) {
			matchNotSchedulable = true
		}
	}
	switch {
	case !ready:
		return "no node is ready"
	case !schedulable:
		return "every ready node is cordoned or draining"
	case matchNotSchedulable:
		return fmt.Sprintf("no ready node matches node_selector %s (the ones that do are cordoned or draining)", formatSelector(svc.Selector))
	default:
		return fmt.Sprintf("no ready node matches node_selector %s", formatSelector(svc.Selector))
	}
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if l, ok := labels[k]; !ok || l != v {
			return false
		}
	}
	return true
}

// formatSelector writes a selector as the spec does, keys sorted: {disk: ssd}.
func formatSelector(sel map[string]string) string {
	parts := make([]string, 0, len(sel))
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		parts = append(parts, k+": "+sel[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Deployment, b.Deployment), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Index, b.Index))
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
