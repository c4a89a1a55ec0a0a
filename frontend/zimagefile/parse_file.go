package zimagefile

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var labelKeyRe = regexp.MustCompile(`^[^\n\r]+$`)

func parseDuration(s string) (time.Duration, error) { return time.ParseDuration(s) }

func (d *decoder) file0(f *File, root *yaml.Node) {
	entries, pos, ok := d.mapping(root, "the ZImagefile", topKeys)
	if !ok {
		return
	}
	f.Pos = pos
	for _, e := range entries {
		v := e.value
		switch e.key {
		case "version":
			s, ok := d.scalar(v, "version")
			if ok && s != "1" {
				d.errorf(v, "unsupported version %q: only \"1\" is known", s)
			}
			f.Version = "1"
		case "runtime":
			s, ok := d.oneLine(v, "runtime")
			if !ok {
				continue
			}
			if !slices.Contains(Runtimes, s) {
				msg := fmt.Sprintf("unknown runtime %q (known: %s)", s, strings.Join(Runtimes, ", "))
				d.errorf(v, "%s", msg)
				continue
			}
			f.Runtime = s
		case "wasm":
			f.Wasm = d.wasm(v)
		case "stages":
			f.Stages = d.stages(v)
		case "args":
			f.Args = d.keyValues(v, "args", true, argNameRe, "letters, digits and _")
		case "base":
			f.Base, _ = d.word(v, "base")
		case "platform":
			f.Platform, _ = d.word(v, "platform")
		case "steps":
			f.Steps = d.steps(v)
		default:
			d.config(&f.Config, e, "top-level")
		}
	}
	d.checkModes(f, root)
	if len(f.Stages) > 0 {
		d.checkStageRefs(f.Stages)
	} else if f.Pos.Has("base") || f.Pos.Has("steps") {
		st := f.SingleStage()
		d.checkStageRefs(Stages{st})
	}
}

// SingleStage returns the stage a single-stage file describes.
func (f *File) SingleStage() *Stage {
	return &Stage{
		Name: "", Base: f.Base, Platform: f.Platform, Config: f.Config, Steps: f.Steps,
		Key: Range{Start: Pos{1, 1}, End: Pos{1, 1}}, Range: Range{Start: Pos{1, 1}, End: Pos{1, 1}}, Pos: f.Pos,
	}
}

// Mode names what a file builds: "runtime", "wasm", "stages" or "single".
func (f *File) Mode() string {
	switch {
	case f.Runtime != "":
		return "runtime"
	case f.Wasm != nil:
		return "wasm"
	case len(f.Stages) > 0:
		return "stages"
	}
	return "single"
}

func (d *decoder) checkModes(f *File, root *yaml.Node) {
	type mode struct{ key, name string }
	var modes []mode
	for _, m := range []mode{{"runtime", "runtime"}, {"wasm", "wasm"}, {"stages", "stages"}, {"base", "base + steps"}} {
		if f.Pos.Has(m.key) {
			modes = append(modes, m)
		}
	}
	if f.Pos.Has("steps") && !f.Pos.Has("base") {
		p := f.Pos["steps"]
		d.add(Range{Start: p.Key, End: p.Key}, "steps need a base image: add base: (or use stages:)")
	}
	if len(modes) == 0 {
		if !f.Pos.Has("steps") {
			d.errorf(root, "nothing to build: set one of runtime, base + steps, stages or wasm")
		}
		return
	}
	for _, m := range modes[1:] {
		p := f.Pos[m.key]
		d.add(Range{Start: p.Key, End: p.Key}, "%s cannot be combined with %s: a ZImagefile has exactly one of runtime, base + steps, stages or wasm", m.name, modes[0].name)
	}
	if f.Pos.Has("platform") && !f.Pos.Has("base") {
		p := f.Pos["platform"]
		d.add(Range{Start: p.Key, End: p.Key}, "top-level platform only applies to a single-stage file (base + steps); set platform on a stage")
	}
}

func (d *decoder) stages(n *yaml.Node) Stages {
	entries, _, ok := d.mapping(n, "stages", nil)
	if !ok {
		return nil
	}
	if len(entries) == 0 {
		d.errorf(n, "stages must name at least one stage")
		return nil
	}
	var out Stages
	for _, e := range entries {
		name := e.key
		if !stageNameRe.MatchString(name) {
			d.errorf(e.k, "invalid stage name %q: start with a letter, then letters, digits, '_', '-' or '.'", name)
		} else if strings.EqualFold(name, "scratch") || strings.EqualFold(name, "context") {
			d.errorf(e.k, "%q is reserved and cannot name a stage", name)
		}
		for _, prev := range out {
			if strings.EqualFold(prev.Name, name) && prev.Name != name {
				d.errorf(e.k, "stage %q clashes with stage %q at line %d (stage names ignore case)", name, prev.Name, prev.Key.Start.Line)
			}
		}
		st := d.stage(e.value, "stage "+name)
		if st == nil {
			continue
		}
		st.Name = name
		st.Doc = commentText(e.k.HeadComment)
		st.Key = Range{Start: Pos{e.k.Line, e.k.Column}, End: Pos{e.k.Line, e.k.Column + len(name)}}
		st.Range = Range{Start: st.Key.Start, End: rangeOf(e.value).End}
		out = append(out, st)
	}
	return out
}

func (d *decoder) stage(n *yaml.Node, what string) *Stage {
	entries, pos, ok := d.mapping(n, what, stageKeys)
	if !ok {
		return nil
	}
	st := &Stage{Pos: pos}
	for _, e := range entries {
		v := e.value
		switch e.key {
		case "base":
			st.Base, _ = d.word(v, "base")
		case "platform":
			st.Platform, _ = d.word(v, "platform")
		case "args":
			st.Args = d.keyValues(v, what+" args", true, argNameRe, "letters, digits and _")
		case "steps":
			st.Steps = d.steps(v)
		default:
			d.config(&st.Config, e, what)
		}
	}
	if !pos.Has("base") {
		d.errorf(n, "%s needs base: an image, scratch or an earlier stage", what)
	}
	return st
}

func (d *decoder) steps(n *yaml.Node) []*Step {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "steps must be a list, not %s", kindName(n))
		return nil
	}
	var out []*Step
	for _, c := range n.Content {
		if s := d.step(c); s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) step(n *yaml.Node) *Step {
	entries, pos, ok := d.mapping(n, "step", stepKeys)
	if !ok {
		return nil
	}
	s := &Step{Range: rangeOf(n), Pos: pos}
	for _, e := range entries {
		v := e.value
		switch e.key {
		case "run":
			s.Run = d.command(v, "run", true)
		case "copy":
			s.Copy = d.stringList(v, "copy")
		case "add":
			s.Add = d.stringList(v, "add")
		case "env":
			s.Env = d.keyValues(v, "env", false, nil, "")
		case "workdir":
			s.Workdir, _ = d.oneLine(v, "workdir")
		case "user":
			s.User, _ = d.word(v, "user")
		case "to":
			s.To, _ = d.oneLine(v, "to")
		case "from":
			s.From, _ = d.word(v, "from")
		case "owner":
			s.Owner, _ = d.word(v, "owner")
		case "chmod":
			s.Chmod = d.matching(d.oneLine, v, "chmod", chmodRe, `a mode (octal like "755" or symbolic like "u+x")`)
		case "cache":
			s.Cache = d.caches(v)
		case "secrets":
			s.Secrets = d.secrets(v)
		case "ssh":
			s.SSH = d.sshMounts(v)
		}
	}
	d.checkStep(s, n)
	return s
}

func (d *decoder) keyErr(s *Step, key, format string, args ...any) {
	p := s.Pos[key]
	d.add(Range{Start: p.Key, End: Pos{p.Key.Line, p.Key.Column + len(key)}}, format, args...)
}

func (d *decoder) checkStep(s *Step, n *yaml.Node) {
	var actions []string
	for _, k := range []string{ActionRun, ActionCopy, ActionAdd, ActionEnv, ActionWorkdir, ActionUser} {
		if s.Pos.Has(k) {
			actions = append(actions, k)
		}
	}
	// env beside run scopes variables to that run; it is not a second action.
	if len(actions) == 2 && actions[0] == ActionRun && actions[1] == ActionEnv {
		actions = actions[:1]
	}
	switch len(actions) {
	case 0:
		d.errorf(n, "step has no action: set one of run, copy, add, env, workdir or user")
		return
	case 1:
	default:
		d.keyErr(s, actions[1], "step has two actions, %s and %s: split it into two steps", actions[0], actions[1])
		return
	}
	act := actions[0]
	isCopy := act == ActionCopy || act == ActionAdd
	for _, k := range []string{"to", "owner", "chmod"} {
		if s.Pos.Has(k) && !isCopy {
			d.keyErr(s, k, "%s: only applies to copy and add steps", k)
		}
	}
	if s.Pos.Has("from") {
		switch act {
		case ActionCopy:
		case ActionAdd:
			d.keyErr(s, "from", "from: is not supported on add (Dockerfile ADD has no --from); use copy")
		default:
			d.keyErr(s, "from", "from: only applies to copy steps")
		}
	}
	for _, k := range []string{"cache", "secrets", "ssh"} {
		if s.Pos.Has(k) && act != ActionRun {
			d.keyErr(s, k, "%s: only applies to run steps", k)
		}
	}
	for _, m := range s.Secrets {
		if _, set := s.Env.Get(m.Env); m.Env != "" && set {
			// The step's env would be exported over the secret's value.
			d.add(m.Pos["env"].Value, "secret %q: env %s is also set by this step's env:", m.ID, m.Env)
		}
	}
	if isCopy && !s.Pos.Has("to") {
		d.keyErr(s, act, "%s needs to: the destination path", act)
	}
	if act == ActionEnv && s.Pos.Has("env") && len(s.Env) == 0 && s.Env != nil {
		d.keyErr(s, "env", "env step sets no variables")
	}
}

func (d *decoder) caches(n *yaml.Node) []*CacheMount {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "cache must be a list of {target, id, sharing, readonly}, not %s", kindName(n))
		return nil
	}
	var out []*CacheMount
	for _, c := range n.Content {
		entries, pos, ok := d.mapping(c, "cache mount", cacheKeys)
		if !ok {
			continue
		}
		m := &CacheMount{Range: rangeOf(c), Pos: pos}
		for _, e := range entries {
			v := e.value
			switch e.key {
			case "target":
				m.Target, _ = d.word(v, "cache target")
				if strings.Contains(m.Target, ",") {
					d.errorf(v, "cache target must not contain ','")
				}
			case "id":
				m.ID, _ = d.word(v, "cache id")
				if strings.Contains(m.ID, ",") {
					d.errorf(v, "cache id must not contain ','")
				}
			case "sharing":
				if s, ok := d.oneLine(v, "cache sharing"); ok {
					if s != "shared" && s != "private" && s != "locked" {
						d.errorf(v, "cache sharing: %q is not shared, private or locked", s)
					}
					m.Sharing = s
				}
			case "readonly":
				m.Readonly = d.boolean(v, "cache readonly")
			}
		}
		if !pos.Has("target") {
			d.errorf(c, "cache mount needs target: the path to mount the cache at")
		}
		out = append(out, m)
	}
	return out
}

// mountList checks that n is a list of at most limit entries.
func (d *decoder) mountList(n *yaml.Node, what, shape string, limit int) ([]*yaml.Node, bool) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s must be a list of %s, not %s", what, shape, kindName(n))
		return nil, false
	}
	if len(n.Content) > limit {
		d.errorf(n.Content[limit], "%s: at most %d entries per run step", what, limit)
		return n.Content[:limit], true
	}
	return n.Content, true
}

func (d *decoder) secrets(n *yaml.Node) SecretMounts {
	items, ok := d.mountList(n, "secrets", "{id, target | env, required}", MaxSecretsPerStep)
	if !ok {
		return nil
	}
	var out SecretMounts
	ids := map[string]int{}
	for _, c := range items {
		entries, pos, ok := d.mapping(c, "secret", secretKeys)
		if !ok {
			continue
		}
		m := &SecretMount{Range: rangeOf(c), Pos: pos}
		for _, e := range entries {
			v := e.value
			switch e.key {
			case "id":
				m.ID = d.mountID(v, "secret id", "secret", ids)
			case "target":
				m.Target = d.absPath(v, "secret target")
			case "env":
				m.Env = d.matching(d.word, v, "secret env", argNameRe, "a variable name (letters, digits and _, not starting with a digit)")
			case "required":
				m.Required = d.boolean(v, "secret required")
			}
		}
		if !pos.Has("id") {
			d.errorf(c, "secret needs id: the id given to zlayer build --secret id=...")
		}
		if pos.Has("target") && pos.Has("env") {
			p := pos["env"]
			d.add(Range{Start: p.Key, End: p.Key}, "secret %q: set target (a file) or env (a variable), not both", m.ID)
		}
		out = append(out, m)
	}
	return out
}

func (d *decoder) sshMounts(n *yaml.Node) SSHMounts {
	items, ok := d.mountList(n, "ssh", "agent ids or {id, target, required}", MaxSSHPerStep)
	if !ok {
		return nil
	}
	var out SSHMounts
	ids := map[string]int{}
	for _, c := range items {
		m := &SSHMount{Range: rangeOf(c), Pos: Positions{}}
		if c.Kind == yaml.ScalarNode {
			m.ID = d.mountID(c, "ssh id", "ssh agent", ids)
			out = append(out, m)
			continue
		}
		entries, pos, ok := d.mapping(c, "ssh mount", sshKeys)
		if !ok {
			continue
		}
		m.Pos = pos
		var idNode *yaml.Node
		for _, e := range entries {
			v := e.value
			switch e.key {
			case "id":
				idNode = v
			case "target":
				m.Target = d.absPath(v, "ssh target")
			case "required":
				m.Required = d.boolean(v, "ssh required")
			}
		}
		if idNode != nil {
			m.ID = d.mountID(idNode, "ssh id", "ssh agent", ids)
		} else {
			// No id is the default agent, which one step mounts once.
			d.mountID(&yaml.Node{Kind: yaml.ScalarNode, Value: "default", Line: c.Line, Column: c.Column}, "ssh id", "ssh agent", ids)
		}
		out = append(out, m)
	}
	return out
}

// mountID reads a secret or agent id and reports one the step already
// mounts; ids maps each id to the line it was first seen on.
func (d *decoder) mountID(n *yaml.Node, what, noun string, ids map[string]int) string {
	id := d.matching(d.word, n, what, secretIDRe, "an id (letters, digits, '_', '.' and '-', at most 128)")
	if id == "" {
		return id
	}
	if line, dup := ids[id]; dup {
		d.errorf(n, "%s %q is mounted twice in this step (first at line %d)", noun, id, line)
	} else {
		ids[id] = n.Line
	}
	return id
}

// absPath reads a mount target: an absolute path that is not / itself.
func (d *decoder) absPath(n *yaml.Node, what string) string {
	s, ok := d.word(n, what)
	switch {
	case !ok:
	case strings.HasPrefix(s, "/") && path.Clean(s) == "/":
		d.errorf(n, "%s must not be /", what)
	case !absPathRe.MatchString(s):
		d.errorf(n, "%s: %q is not an absolute path without ',' or '\"'", what, s)
	}
	return s
}

func (d *decoder) wasm(n *yaml.Node) *Wasm {
	entries, pos, ok := d.mapping(n, "wasm", wasmKeys)
	if !ok {
		return &Wasm{Range: rangeOf(n)}
	}
	w := &Wasm{Range: rangeOf(n), Pos: pos}
	enum := func(v *yaml.Node, what string, allowed ...string) string {
		s, ok := d.oneLine(v, what)
		if ok && !slices.Contains(allowed, s) {
			d.errorf(v, "%s: %q is not one of %s", what, s, strings.Join(allowed, ", "))
		}
		return s
	}
	for _, e := range entries {
		v := e.value
		switch e.key {
		case "target":
			w.Target = enum(v, "wasm target", "preview1", "preview2")
		case "language":
			w.Language = enum(v, "wasm language", "rust", "go", "c", "zig", "assemblyscript", "typescript", "python")
		case "optimize":
			w.Optimize = d.boolean(v, "wasm optimize")
		case "opt_level":
			w.OptLevel = enum(v, "wasm opt_level", "0", "1", "2", "3", "4", "s", "z")
		case "features":
			w.Features = d.stringList(v, "wasm features")
		case "build_args":
			w.BuildArgs = d.keyValues(v, "wasm build_args", false, argNameRe, "letters, digits and _")
		case "output":
			w.Output, _ = d.oneLine(v, "wasm output")
		case "module":
			w.Module, _ = d.oneLine(v, "wasm module")
		case "base":
			w.Base, _ = d.word(v, "wasm base")
		case "name":
			if s, ok := d.oneLine(v, "wasm name"); ok {
				if strings.Contains(s, "/") {
					d.errorf(v, "wasm name is a file name, not a path")
				}
				w.Name = s
			}
		}
	}
	if w.Target == "" {
		w.Target = "preview2"
	}
	if w.Language == "" && w.Module == "" && pos != nil {
		d.errorf(n, "wasm needs language: (to compile) or module: (a prebuilt .wasm in the context)")
	}
	if w.Language != "" && w.Module != "" {
		p := pos["module"]
		d.add(Range{Start: p.Key, End: p.Key}, "wasm module: packages a prebuilt module and cannot be combined with language:")
	}
	if w.Language == "zig" && w.Target == "preview2" && pos.Has("target") {
		d.errorf(pos.node(n, "target"), "zig builds preview1 modules only")
	}
	return w
}

func (p Positions) node(fallback *yaml.Node, key string) *yaml.Node {
	kp, ok := p[key]
	if !ok {
		return fallback
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Line: kp.Value.Start.Line, Column: kp.Value.Start.Column}
}

// checkStageRefs reports base: and from: that name a later stage (or no
// stage where a stage is meant).
func (d *decoder) checkStageRefs(stages Stages) {
	index := map[string]int{}
	for i, st := range stages {
		if st.Name != "" {
			if _, dup := index[strings.ToLower(st.Name)]; !dup {
				index[strings.ToLower(st.Name)] = i
			}
		}
	}
	earlier := func(i int) string {
		var names []string
		for _, st := range stages[:i] {
			names = append(names, st.Name)
		}
		if len(names) == 0 {
			return "there are none before it"
		}
		return "earlier stages: " + strings.Join(names, ", ")
	}
	for i, st := range stages {
		if j, ok := index[strings.ToLower(st.Base)]; ok && st.Name != "" {
			if j >= i {
				p := st.Pos["base"]
				what := "a later stage"
				if j == i {
					what = "the stage itself"
				}
				d.add(p.Value, "base %q names %s; a stage can only build on earlier stages", st.Base, what)
			}
		}
		for _, s := range st.Steps {
			if s.From == "" || !s.Pos.Has("from") {
				continue
			}
			p := s.Pos["from"].Value
			if j, ok := index[strings.ToLower(s.From)]; ok {
				if j >= i {
					d.add(p, "from %q names a later stage (or this one); copy only from earlier stages (%s)", s.From, earlier(i))
				}
				continue
			}
			if n, err := strconv.Atoi(s.From); err == nil {
				if n < 0 || n >= i {
					d.add(p, "from %q: stage index out of range (%s)", s.From, earlier(i))
				}
				continue
			}
			if looksLikeImage(s.From) || d.isContext(s.From) {
				continue
			}
			d.add(p, "from %q names no stage (%s) and no named context; to copy from an image give a full reference such as %s:latest", s.From, earlier(i), s.From)
		}
	}
}

func (d *decoder) isContext(name string) bool {
	for _, c := range d.opts.Contexts {
		if strings.EqualFold(c, name) {
			return true
		}
	}
	return false
}

// looksLikeImage tells an image reference from a bare stage name: images
// carry a tag, digest or path ("alpine:3", "docker.io/x", "x@sha256:...") or
// are build args resolved later.
func looksLikeImage(s string) bool {
	return strings.ContainsAny(s, ":/@$")
}

func commentText(c string) string {
	var lines []string
	for _, l := range strings.Split(c, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#"))
		if l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " ")
}
