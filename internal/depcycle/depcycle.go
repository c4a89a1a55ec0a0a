// Package depcycle finds a cycle in a dependency graph given by names, the
// check every reader that has depends_on lists needs before ordering work.
package depcycle

// Find returns one cycle of the graph whose nodes are names (searched in
// that order, so the cycle reported is stable) and whose edges are deps(name),
// as a path that repeats its first name at the end; nil when there is none.
// Edges to names outside names are followed as nodes without edges.
func Find(names []string, deps func(string) []string) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack, found []string
	var visit func(string) bool
	visit = func(n string) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, d := range deps(n) {
			switch color[d] {
			case grey:
				for i, s := range stack {
					if s == d {
						found = append(append([]string{}, stack[i:]...), d)
						return true
					}
				}
			case white:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, n := range names {
		if color[n] == white && visit(n) {
			return found
		}
	}
	return nil
}
