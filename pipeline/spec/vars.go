package spec

import (
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// resolver expands ${VAR} references. Vars may refer to other vars; --set
// values are taken literally, as a shell user expects of a value they typed.
type resolver struct {
	p     *parser
	raw   map[string]string
	nodes map[string]*yaml.Node
	sets  map[string]string
	done  map[string]string
	busy  map[string]bool
}

func newResolver(p *parser, raw map[string]string, nodes map[string]*yaml.Node, sets map[string]string) *resolver {
	if raw == nil {
		raw = map[string]string{}
	}
	return &resolver{p: p, raw: raw, nodes: nodes, sets: sets, done: map[string]string{}, busy: map[string]bool{}}
}

// all resolves every var, reporting undefined references and cycles among vars.
func (r *resolver) all() map[string]string {
	names := slices.Sorted(maps.Keys(r.raw))
	out := map[string]string{}
	for _, k := range names {
		if !validVarName(k) {
			if n := r.nodes[k]; n != nil {
				r.p.errorf(n, "variable name %q: use letters, digits and _", k)
			}
			continue
		}
		out[k] = r.lookup(k, r.nodes[k])
	}
	return out
}

func (r *resolver) lookup(name string, at *yaml.Node) string {
	if v, ok := r.done[name]; ok {
		return v
	}
	if v, ok := r.sets[name]; ok {
		r.done[name] = v
		return v
	}
	if r.busy[name] {
		r.p.errorf(at, "variable %s refers to itself", name)
		return ""
	}
	r.busy[name] = true
	v := r.expand(r.nodes[name], r.raw[name])
	r.busy[name] = false
	r.done[name] = v
	return v
}

// expand substitutes ${NAME} in s, written at node n. "$${" stands for a
// literal "${". An undefined name is an error at n naming it.
func (r *resolver) expand(n *yaml.Node, s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			r.errAt(n, "unterminated ${ in %q", s)
			return b.String()
		}
		name := s[i+2 : i+j]
		s = s[i+j+1:]
		switch {
		case !validVarName(name):
			r.errAt(n, "bad variable reference ${%s}: a name is letters, digits and _", name)
		case !r.defined(name):
			r.errAt(n, "undefined variable ${%s} (define it under vars: or pass --set %s=...)", name, name)
		default:
			b.WriteString(r.lookup(name, n))
		}
	}
}

func (r *resolver) defined(name string) bool {
	if _, ok := r.sets[name]; ok {
		return true
	}
	_, ok := r.raw[name]
	return ok
}

func (r *resolver) errAt(n *yaml.Node, format string, args ...any) {
	if n == nil {
		r.p.errs = append(r.p.errs, &Error{File: r.p.file, Msg: sprintf(format, args...)})
		return
	}
	r.p.errorf(n, format, args...)
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
