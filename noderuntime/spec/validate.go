package spec

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/zlayer/zlayer/internal/depcycle"
	"github.com/zlayer/zlayer/internal/yamldoc"
)

// Error is one problem in a spec, located in its file.
type Error struct {
	File   string
	Line   int
	Column int
	Path   string // e.g. services.web.scale.replicas
	Msg    string
	// cause is what the error wraps (e.g. yamldoc.ErrTooLarge), for errors.Is.
	cause error
}

func (e Error) Unwrap() error { return e.cause }

func (e Error) Error() string {
	loc := e.File
	if loc == "" {
		loc = "<spec>"
	}
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", loc, e.Line, e.Column)
	}
	if e.Path != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Path, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Errors are all the problems found in one spec, in file order.
type Errors []Error

// Unwrap lets errors.Is see the causes (e.g. yamldoc.ErrTooLarge).
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

type checker struct {
	file string
	errs Errors
	// dropped counts the errors past MaxErrors: a hostile document cannot
	// make the node build an unbounded report.
	dropped int
	// secretExists is ParseOptions.SecretExists.
	secretExists func(string) bool
	// lookupEnv is ParseOptions.LookupEnv.
	lookupEnv func(string) (string, bool)
}

func (c *checker) add(n *yaml.Node, path, format string, args ...any) {
	if len(c.errs) >= MaxErrors {
		c.dropped++
		return
	}
	e := Error{File: c.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	c.errs = append(c.errs, e)
}

// result is every error found, the last saying how many were left out.
func (c *checker) result() Errors {
	if c.dropped > 0 {
		return append(c.errs, Error{File: c.file, Msg: fmt.Sprintf("... and %d more errors", c.dropped)})
	}
	return c.errs
}

// apply reports what r says of v, at n.
func (c *checker) apply(r *rule, n *yaml.Node, path, v string) {
	if r == nil {
		return
	}
	if err := r.check(v); err != nil {
		c.add(n, path, "%v", err)
	}
}

// tags refuses explicit tags beyond YAML's core schema: the decoder acts on
// some (!!binary turns base64 into the string it encodes), so a value could
// read one way to a check and another to the decoder.
func (c *checker) tags(n *yaml.Node, path string) {
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.Tag {
		case "!!str", "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq":
		default:
			c.add(n, path, "tag %s is not allowed in a deployment spec", n.Tag)
		}
	}
	for _, e := range n.Content {
		c.tags(e, path)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// pairs checks that n is a mapping and reports its repeated keys, then
// hands each key, its value, its path and whether it repeats an earlier key
// to each. It returns the keys seen; ok is false when n is not a mapping.
func (c *checker) pairs(n *yaml.Node, path string, each func(k, v *yaml.Node, at string, dup bool)) (seen map[string]bool, ok bool) {
	if n.Kind != yaml.MappingNode {
		c.add(n, path, "must be a mapping, got %s", yamldoc.KindName(n))
		return nil, false
	}
	seen = map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		at := join(path, k.Value)
		dup := seen[k.Value]
		if dup {
			c.add(k, at, "duplicate key")
		}
		seen[k.Value] = true
		each(k, v, at, dup)
	}
	return seen, true
}

// walk checks n against s. n comes from yamldoc: aliases and merge keys are
// already expanded, so this sees the very nodes the decoder decodes.
func (c *checker) walk(n *yaml.Node, s *schema, path string) {
	switch s.kind {
	case kObject:
		if n.Kind == yaml.ScalarNode && s.shorthand != "" && n.Tag != "!!null" {
			return
		}
		seen, ok := c.pairs(n, path, func(k, v *yaml.Node, at string, dup bool) {
			if dup {
				return
			}
			var f *field
			for j := range s.fields {
				if s.fields[j].name == k.Value {
					f = &s.fields[j]
				}
			}
			if f == nil && isNotSupported(s, k.Value) {
				c.add(k, at, "%s", notSupportedMsg(k.Value))
				return
			}
			if f == nil {
				c.add(k, at, "unknown key %q (allowed: %s)", k.Value, fieldNames(s))
				return
			}
			c.walk(v, f.s, at)
		})
		if !ok {
			return
		}
		for _, f := range s.fields {
			if f.required && !seen[f.name] {
				c.add(n, join(path, f.name), "required")
			}
		}
	case kStringMap:
		_, ok := c.pairs(n, path, func(k, v *yaml.Node, at string, _ bool) {
			c.apply(s.keyRule, k, at, k.Value)
			switch {
			case s.elem != nil:
				c.walk(v, s.elem, at)
			case v.Kind != yaml.ScalarNode || v.Tag == "!!null":
				c.add(v, at, "must be a string, got %s", yamldoc.KindName(v))
			default:
				c.apply(s.valueRule, v, at, v.Value)
			}
		})
		if ok && s.maxKeys > 0 && len(n.Content)/2 > s.maxKeys {
			c.add(n, path, "must have at most %d entries, got %d", s.maxKeys, len(n.Content)/2)
		}
	case kList:
		if n.Kind != yaml.SequenceNode {
			c.add(n, path, "must be a list, got %s", yamldoc.KindName(n))
			return
		}
		for i, e := range n.Content {
			c.walk(e, s.elem, fmt.Sprintf("%s[%d]", path, i))
		}
	case kStringList:
		if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
			return
		}
		if n.Kind != yaml.SequenceNode {
			c.add(n, path, "must be a string or a list of strings, got %s", yamldoc.KindName(n))
			return
		}
		for i, e := range n.Content {
			if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
				c.add(e, fmt.Sprintf("%s[%d]", path, i), "must be a string, got %s", yamldoc.KindName(e))
			}
		}
	default:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			c.add(n, path, "must be a scalar, got %s", yamldoc.KindName(n))
			return
		}
		c.scalar(n, s, path)
	}
}

func fieldNames(s *schema) string {
	names := make([]string, len(s.fields))
	for i, f := range s.fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

func (c *checker) scalar(n *yaml.Node, s *schema, path string) {
	v := n.Value
	switch s.kind {
	case kString:
		if n.Tag != "!!str" && v == "" {
			c.add(n, path, "must be a string")
			return
		}
		c.apply(s.rule, n, path, v)
	case kBool:
		// Decoded as the decoder will, so both agree on what is a bool.
		var b bool
		if err := n.Decode(&b); err != nil {
			c.add(n, path, "must be true or false, got %q", v)
		}
	case kEnum:
		for _, e := range s.enum {
			if v == e {
				return
			}
		}
		c.add(n, path, "must be one of %s, got %q", strings.Join(s.enum, ", "), v)
	case kInt:
		// Only what YAML resolves as an integer: yaml.v3 would decode 1.5
		// as 1 and -.inf as the smallest int64 into an int field.
		var i int64
		if n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			if digitsRE.MatchString(v) {
				c.add(n, path, "is out of range, got %s", v)
			} else {
				c.add(n, path, "must be an integer, got %q", v)
			}
			return
		}
		if s.min != nil && i < int64(*s.min) {
			c.add(n, path, "must be at least %d, got %d", *s.min, i)
		}
		if s.max != nil && i > int64(*s.max) {
			c.add(n, path, "must be at most %d, got %d", *s.max, i)
		}
	case kDuration:
		d, err := time.ParseDuration(v)
		maxDur := s.maxDur
		if maxDur == 0 {
			maxDur = MaxDuration
		}
		switch {
		case err != nil:
			c.add(n, path, "must be a duration such as 500ms, 10s or 2m, got %q", v)
		case d < 0:
			c.add(n, path, "must not be negative")
		case d < s.minDur:
			c.add(n, path, "must be at least %s, got %s", s.minDur, d)
		case d > maxDur:
			c.add(n, path, "must be at most %s, got %s", maxDur, d)
		}
	case kQuantity:
		if b, err := ParseBytes(v); err != nil {
			c.add(n, path, "%v", err)
		} else if b < s.minBytes {
			c.add(n, path, "must be at least %d bytes, got %q", s.minBytes, v)
		}
	case kCPU:
		if _, err := ParseCPU(v); err != nil {
			c.add(n, path, "%v", err)
		}
	}
}

// semantic checks what the shape cannot: names, references, cycles and
// per-type required fields. It runs on the node tree so errors keep positions.
func (c *checker) semantic(root *yaml.Node) {
	svcs := mapGet(root, "services")
	if svcs == nil || svcs.Kind != yaml.MappingNode {
		return
	}
	if len(svcs.Content) == 0 {
		c.add(svcs, "services", "at least one service is required")
	}
	names := map[string]bool{}
	for i := 0; i+1 < len(svcs.Content); i += 2 {
		names[svcs.Content[i].Value] = true
	}
	deps := map[string][]string{}
	for i := 0; i+1 < len(svcs.Content); i += 2 {
		k, v := svcs.Content[i], svcs.Content[i+1]
		p := "services." + k.Value
		if v.Kind != yaml.MappingNode {
			continue
		}
		if img := mapGet(v, "image"); img != nil {
			name := img
			if img.Kind == yaml.MappingNode {
				name = mapGet(img, "name")
			}
			if name != nil && name.Kind == yaml.ScalarNode && strings.TrimSpace(name.Value) == "" {
				c.add(name, p+".image.name", "must not be empty")
			}
		}
		if eps := mapGet(v, "endpoints"); eps != nil && eps.Kind == yaml.SequenceNode {
			seen := map[string]bool{}
			for j, ep := range eps.Content {
				if n := mapGet(ep, "name"); n != nil {
					if seen[n.Value] {
						c.add(n, fmt.Sprintf("%s.endpoints[%d].name", p, j), "duplicate endpoint name %q", n.Value)
					}
					seen[n.Value] = true
				}
			}
		}
		if h := mapGet(v, "health"); h != nil {
			if chk := mapGet(h, "check"); chk != nil && chk.Kind == yaml.MappingNode {
				t := mapGet(chk, "type")
				cp := p + ".health.check"
				if t != nil {
					switch t.Value {
					case "tcp", "http":
						if mapGet(chk, "port") == nil {
							c.add(chk, cp+".port", "required for a %s check", t.Value)
						}
						if mapGet(chk, "command") != nil {
							c.add(mapGet(chk, "command"), cp+".command", "only for a command check")
						}
					case "command":
						if mapGet(chk, "command") == nil {
							c.add(chk, cp+".command", "required for a command check")
						}
					}
					if t.Value != "http" {
						for _, k := range []string{"path", "expect_status"} {
							if n := mapGet(chk, k); n != nil {
								c.add(n, cp+"."+k, "only for an http check")
							}
						}
					}
				}
			}
		}
		if st := mapGet(v, "storage"); st != nil && st.Kind == yaml.SequenceNode {
			for j, m := range st.Content {
				sp := fmt.Sprintf("%s.storage[%d]", p, j)
				t := mapGet(m, "type")
				if tg := mapGet(m, "target"); tg != nil && tg.Value == "/" {
					c.add(tg, sp+".target", "cannot mount over the container's root")
				}
				if t == nil {
					continue
				}
				switch t.Value {
				case "bind":
					if src := mapGet(m, "source"); src == nil {
						c.add(m, sp+".source", "required for a bind mount")
					}
				case "named":
					if n := mapGet(m, "name"); n == nil {
						c.add(m, sp+".name", "required for a named volume")
					}
				}
				for _, only := range [][2]string{{"source", "bind"}, {"name", "named"}} {
					if n := mapGet(m, only[0]); n != nil && t.Value != only[1] {
						c.add(n, sp+"."+only[0], "only for a %s mount", only[1])
					}
				}
				if n := mapGet(m, "size"); n != nil && t.Value != "tmpfs" {
					c.add(n, sp+".size", "only for a tmpfs mount")
				}
			}
		}
		c.secrets(v, p)
		c.runs(v, p)
		c.upstreamSemantic(v, p)
		if d := mapGet(v, "depends"); d != nil && d.Kind == yaml.SequenceNode {
			for j, dep := range d.Content {
				s := mapGet(dep, "service")
				if s == nil || s.Kind != yaml.ScalarNode {
					continue
				}
				dp := fmt.Sprintf("%s.depends[%d].service", p, j)
				switch {
				case s.Value == k.Value:
					c.add(s, dp, "a service cannot depend on itself")
				case !names[s.Value]:
					c.add(s, dp, "unknown service %q", s.Value)
				default:
					deps[k.Value] = append(deps[k.Value], s.Value)
					c.dependsOnRuns(dep, mapGet(svcs, s.Value), fmt.Sprintf("%s.depends[%d]", p, j))
				}
			}
		}
	}
	if cyc := depcycle.Find(slices.Sorted(maps.Keys(deps)), func(n string) []string { return deps[n] }); cyc != nil {
		n := mapGet(svcs, cyc[0])
		c.add(n, "services."+cyc[0]+".depends", "dependency cycle: %s", strings.Join(cyc, " -> "))
	}
}

// secrets checks the secrets a service (v, at p) names, as files and in
// env: their names, that the node has them, and that file targets are
// distinct and written as octal modes.
func (c *checker) secrets(v *yaml.Node, p string) {
	ref := func(n *yaml.Node, at, name string) {
		if err := CheckName(name); err != nil {
			c.add(n, at, "secret name: %v", err)
			return
		}
		if c.secretExists != nil && !c.secretExists(name) {
			c.add(n, at, "unknown secret %q (create it with zlayer secret create %s)", name, name)
		}
	}
	if sl := mapGet(v, "secrets"); sl != nil && sl.Kind == yaml.SequenceNode {
		targets := map[string]bool{}
		for j, m := range sl.Content {
			sp := fmt.Sprintf("%s.secrets[%d]", p, j)
			n := mapGet(m, "name")
			if n == nil || n.Kind != yaml.ScalarNode {
				continue
			}
			if c.secretExists != nil && CheckName(n.Value) == nil && !c.secretExists(n.Value) {
				c.add(n, sp+".name", "unknown secret %q (create it with zlayer secret create %s)", n.Value, n.Value)
			}
			target, tn := SecretsDir+"/"+n.Value, n
			if t := mapGet(m, "target"); t != nil && t.Kind == yaml.ScalarNode {
				target, tn = t.Value, t
				if t.Value == "/" {
					c.add(t, sp+".target", "cannot mount over the container's root")
				}
			}
			if targets[target] {
				c.add(tn, sp+".target", "another secret is already mounted at %s", target)
			}
			targets[target] = true
			if md := mapGet(m, "mode"); md != nil && md.Kind == yaml.ScalarNode && md.Value != "0" && !strings.HasPrefix(md.Value, "0") {
				c.add(md, sp+".mode", "write the mode in octal, such as 0400 or 0o440, got %s", md.Value)
			}
		}
	}
	if env := mapGet(v, "env"); env != nil && env.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(env.Content); i += 2 {
			k, ev := env.Content[i], env.Content[i+1]
			if ev.Kind != yaml.ScalarNode {
				continue
			}
			if name, _ := EnvSecret(ev.Value); name != "" {
				ref(ev, p+".env."+k.Value, name)
			}
		}
	}
}

// mapGet is yamldoc.Get, under the name this package's readers use.
func mapGet(n *yaml.Node, key string) *yaml.Node { return yamldoc.Get(n, key) }

// quantityRE and cpuRE are the only forms of sizes and CPU counts: no sign,
// exponent, hex, NaN or Inf, which strconv.ParseFloat would also take.
const (
	quantityPattern = `^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|k|M|G|T|B)?$`
	cpuPattern      = `^[0-9]+(\.[0-9]+)?m?$`
)

var (
	digitsRE   = regexp.MustCompile(`^[-+]?[0-9]+$`)
	quantityRE = regexp.MustCompile(quantityPattern)
	cpuRE      = regexp.MustCompile(cpuPattern)
)

// ParseBytes reads a memory size: plain bytes, or a number with a K/M/G/T
// (powers of 1000) or Ki/Mi/Gi/Ti (powers of 1024) suffix. Sizes of 2^63
// bytes or more are refused, not wrapped.
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("must be a size such as 256Mi, 1Gi, 512M or a byte count, got %q", s)
	if !quantityRE.MatchString(s) {
		return 0, bad
	}
	units := []struct {
		suf  string
		mult float64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"k", 1e3}, {"B", 1}, {"", 1}}
	for _, u := range units {
		if u.suf != "" && !strings.HasSuffix(s, u.suf) {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suf), 64)
		if err != nil {
			return 0, bad
		}
		b := f * u.mult
		if b >= math.MaxInt64 {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return int64(b), nil
	}
	return 0, bad
}

// ParseCPU reads a CPU limit in cores ("0.5", "2") or millicores ("500m"),
// between MinCPU and MaxCPU.
func ParseCPU(s string) (float64, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("must be a number of cores from %g to %d such as 0.5, 2 or \"500m\", got %q", MinCPU, MaxCPU, s)
	if !cpuRE.MatchString(s) {
		return 0, bad
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "m"), 64)
	if err != nil {
		return 0, bad
	}
	if strings.HasSuffix(s, "m") {
		f /= 1000
	}
	if f < MinCPU || f > MaxCPU {
		return 0, bad
	}
	return f, nil
}
