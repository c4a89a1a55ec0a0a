package zimagefile

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/zlayer/zlayer/internal/yamldoc"
)

// Key sets, shared by the parser, the schema and error messages.
var (
	configKeys = []string{"env", "workdir", "user", "labels", "expose", "entrypoint", "cmd", "volumes", "healthcheck", "stopsignal"}
	topKeys    = append([]string{"version", "runtime", "wasm", "stages", "args", "base", "platform", "steps"}, configKeys...)
	stageKeys  = append([]string{"base", "platform", "args", "steps"}, configKeys...)
	stepKeys   = []string{"run", "copy", "add", "env", "workdir", "user", "to", "from", "owner", "chmod", "cache", "secrets", "ssh"}
	cacheKeys  = []string{"target", "id", "sharing", "readonly"}
	secretKeys = []string{"id", "target", "env", "required"}
	sshKeys    = []string{"id", "target", "required"}
	healthKeys = []string{"cmd", "interval", "timeout", "start_period", "retries"}
	wasmKeys   = []string{"target", "language", "optimize", "opt_level", "features", "build_args", "output", "module", "base", "name"}
)

// Runtimes lists the runtime template names and aliases.
var Runtimes = []string{"node20", "node", "node22", "python312", "python", "python313", "rust", "go", "deno", "bun"}

// RuntimeAliases maps an alias to its template.
var RuntimeAliases = map[string]string{"node": "node20", "python": "python312"}

var (
	stageNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)
	argNameRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	chmodRe     = regexp.MustCompile(`^([0-7]{3,4}|([ugoa]*[-+=][rwxXst]*)(,[ugoa]*[-+=][rwxXst]*)*)$`)
	signalRe    = regexp.MustCompile(`^(SIG[A-Z0-9+-]+|[A-Z][A-Z0-9+-]*|[0-9]+)$`)
	// Secret and agent ids become a word of a Dockerfile --mount option and,
	// by default, a file name under /run/secrets.
	secretIDRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// Mount targets are one CSV field of --mount: no commas or quotes.
	absPathRe = regexp.MustCompile(`^/[^,"\s]+$`)
)

// Bounds on a run step's mounts: BuildKit sets each up for every run, and the
// frontend must not be asked for an unbounded number.
const (
	MaxSecretsPerStep = 32
	MaxSSHPerStep     = 8
)

// maxAliasNodes bounds the nodes aliases and merge keys may add. The
// frontend runs inside buildkitd, so a hostile file must not pin its CPU:
// aliases are expanded once, up to this budget, and every check then walks a
// plain tree.
const maxAliasNodes = 200_000

type decoder struct {
	file string
	errs ErrorList
	opts Options
}

// Options adjust validation to the build a file is used in.
type Options struct {
	// Contexts are the build's named contexts (--build-context NAME=...):
	// a copy step's from: may name one.
	Contexts []string
}

// Parse reads a ZImagefile. On failure the error is an ErrorList holding every
// problem found, each with its line and column.
func Parse(filename string, data []byte) (*File, error) {
	return ParseWithOptions(filename, data, Options{})
}

// ParseWithOptions is Parse for a build with named contexts.
func ParseWithOptions(filename string, data []byte, opts Options) (f *File, err error) {
	if filename == "" {
		filename = "ZImagefile"
	}
	d := &decoder{file: filename, opts: opts}
	defer func() {
		// yaml.v3 is not panic-free on hostile input; a build file must never
		// crash the frontend.
		if r := recover(); r != nil {
			f, err = nil, ErrorList{{File: filename, Range: Range{Pos{1, 1}, Pos{1, 1}}, Msg: fmt.Sprintf("cannot read file: %v", r)}}
		}
	}()
	f = &File{Name: filename, Data: data}
	root, ok := d.document(data)
	if ok {
		d.file0(f, root)
	}
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	return f, nil
}

const emptyMsg = "empty ZImagefile: set one of runtime, base + steps, stages or wasm"

// document reads the one YAML document in data, expanded: no aliases, merge
// keys applied.
func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	root, err := yamldoc.Parse(d.file, data, yamldoc.Limits{MaxAliasNodes: maxAliasNodes})
	if err == nil {
		return root, true
	}
	var e *yamldoc.Error
	if !errors.As(err, &e) {
		d.add(Range{Pos{1, 1}, Pos{1, 1}}, "cannot read file: %v", err)
		return nil, false
	}
	at := Pos{e.Pos.Line, e.Pos.Column}
	if at.Line < 1 {
		at = Pos{1, 1}
	}
	r := Range{at, at}
	switch {
	case errors.Is(err, yamldoc.ErrEmpty):
		d.add(r, emptyMsg)
	case errors.Is(err, yamldoc.ErrMultipleDocs):
		d.add(r, "a ZImagefile holds one YAML document; found a second one")
	case errors.Is(err, yamldoc.ErrSyntax):
		d.add(r, "invalid YAML: %s", e.Msg)
	default:
		d.add(r, "%s", e.Msg)
	}
	return nil, false
}

func (d *decoder) add(r Range, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Range: r, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.add(rangeOf(n), format, args...)
}

func rangeOf(n *yaml.Node) Range {
	start := Pos{n.Line, n.Column}
	if start.Line < 1 {
		start = Pos{1, 1}
	}
	return Range{Start: start, End: endOf(n, start, 0)}
}

func endOf(n *yaml.Node, start Pos, depth int) Pos {
	end := Pos{n.Line, n.Column}
	if end.Line < 1 {
		end = start
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Style {
		case yaml.LiteralStyle, yaml.FoldedStyle:
			lines := strings.Count(strings.TrimRight(n.Value, "\n"), "\n") + 1
			end.Line += lines
			end.Column = 1
		default:
			w := len(n.Value)
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				w += 2
			}
			end.Column += w
		}
	case yaml.MappingNode, yaml.SequenceNode, yaml.DocumentNode:
		if depth > 50 {
			return end
		}
		for _, c := range n.Content {
			if c.Kind == yaml.AliasNode {
				continue
			}
			e := endOf(c, start, depth+1)
			if e.Line > end.Line || (e.Line == end.Line && e.Column > end.Column) {
				end = e
			}
		}
	}
	return end
}

// entry is a mapping entry; value is v (aliases are already expanded).
type entry struct {
	key   string
	k, v  *yaml.Node
	value *yaml.Node
}

// mapping walks a mapping node, reporting unknown and duplicate keys.
func (d *decoder) mapping(n *yaml.Node, what string, allowed []string) ([]entry, Positions, bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		if n != nil && n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			d.errorf(n, "%s is empty: expected a mapping", what)
		} else if n != nil {
			d.errorf(n, "%s must be a mapping, not %s", what, kindName(n))
		}
		return nil, Positions{}, false
	}
	var out []entry
	pos := Positions{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys must be strings", what)
			continue
		}
		key := k.Value
		if allowed != nil && !slices.Contains(allowed, key) {
			d.errorf(k, "%s", yamldoc.UnknownKey(key, what, allowed))
			continue
		}
		// Keys merged in (<<) that are also written were dropped by
		// yamldoc, so a duplicate here is one the user wrote twice.
		if p, dup := pos[key]; dup {
			d.errorf(k, "duplicate key %q in %s (first at line %d)", key, what, p.Key.Line)
			continue
		}
		pos[key] = KeyPos{Key: Pos{k.Line, k.Column}, Value: rangeOf(v)}
		out = append(out, entry{key: key, k: k, v: v, value: v})
	}
	return out, pos, true
}

// kindName names n's type, as "must be a string, not a number" wants;
// collections are named as yamldoc names them.
func kindName(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return yamldoc.KindName(n)
	}
	switch n.Tag {
	case "!!null":
		return "null"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	}
	return "a string"
}

// scalar returns a scalar's text; numbers and booleans are accepted as their
// YAML spelling since users write `expose: 8080` and `PORT: 3000`.
func (d *decoder) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, "%s must be a string, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) nonEmpty(n *yaml.Node, what string) (string, bool) {
	s, ok := d.scalar(n, what)
	if ok && strings.TrimSpace(s) == "" {
		d.errorf(n, "%s must not be empty", what)
		return "", false
	}
	return s, ok
}

func (d *decoder) oneLine(n *yaml.Node, what string) (string, bool) {
	s, ok := d.nonEmpty(n, what)
	if ok && strings.ContainsAny(s, "\n\r") {
		d.errorf(n, "%s must be a single line", what)
		return "", false
	}
	return s, ok
}

// word is a one-line value without blanks: image references, platforms,
// users and the like become single Dockerfile words.
func (d *decoder) word(n *yaml.Node, what string) (string, bool) {
	s, ok := d.oneLine(n, what)
	if ok && strings.ContainsAny(s, " \t") {
		d.errorf(n, "%s must not contain spaces: %q", what, s)
		return "", false
	}
	return s, ok
}

// matching reads v with read and reports a value re does not match, as
// "what: "value" is not notA". A value that does not match is still
// returned: the error is reported, and the model keeps what the file says.
func (d *decoder) matching(read func(*yaml.Node, string) (string, bool), v *yaml.Node, what string, re *regexp.Regexp, notA string) string {
	s, ok := read(v, what)
	if ok && !re.MatchString(s) {
		d.errorf(v, "%s: %q is not %s", what, s, notA)
	}
	return s
}

func (d *decoder) boolean(n *yaml.Node, what string) bool {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b
		}
	}
	d.errorf(n, "%s must be true or false, not %s", what, kindName(n))
	return false
}

func (d *decoder) stringList(n *yaml.Node, what string) StringList {
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			d.errorf(n, "%s must not be an empty list", what)
			return nil
		}
		out := make(StringList, 0, len(n.Content))
		for _, c := range n.Content {
			if s, ok := d.oneLine(c, what+" entry"); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if s, ok := d.oneLine(n, what); ok {
		return StringList{s}
	}
	return nil
}

func (d *decoder) command(n *yaml.Node, what string, multiline bool) *Command {
	c := &Command{Range: rangeOf(n)}
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			d.errorf(n, "%s must not be an empty list", what)
			return nil
		}
		c.IsExec = true
		for _, e := range n.Content {
			s, ok := d.scalar(e, what+" argument")
			if !ok {
				return nil
			}
			c.Exec = append(c.Exec, s)
		}
		return c
	}
	var s string
	var ok bool
	if multiline {
		s, ok = d.nonEmpty(n, what)
	} else {
		s, ok = d.oneLine(n, what)
	}
	if !ok {
		return nil
	}
	c.Shell = s
	return c
}

func (d *decoder) keyValues(n *yaml.Node, what string, allowNull bool, keyRe *regexp.Regexp, keyHint string) []KeyValue {
	entries, _, ok := d.mapping(n, what, nil)
	if !ok {
		return nil
	}
	out := make([]KeyValue, 0, len(entries))
	for _, e := range entries {
		kv := KeyValue{Key: e.key, Range: Range{Start: Pos{e.k.Line, e.k.Column}, End: rangeOf(e.value).End}, Doc: commentText(e.k.HeadComment)}
		switch {
		case strings.TrimSpace(e.key) == "":
			d.errorf(e.k, "%s: empty name", what)
			continue
		case keyRe != nil && !keyRe.MatchString(e.key):
			d.errorf(e.k, "%s: invalid name %q (%s)", what, e.key, keyHint)
			continue
		case keyRe == nil && strings.ContainsAny(e.key, "= \t\n\r"):
			d.errorf(e.k, "%s: invalid name %q (no spaces or '=')", what, e.key)
			continue
		}
		v := e.value
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			if !allowNull {
				d.errorf(v, "%s %s: value is null; write \"\" for an empty value", what, e.key)
				continue
			}
			kv.Null = true
		} else if v.Kind != yaml.ScalarNode {
			d.errorf(v, "%s %s: value must be a string, not %s", what, e.key, kindName(v))
			continue
		} else {
			kv.Value = v.Value
			if strings.ContainsAny(kv.Value, "\n\r") {
				d.errorf(v, "%s %s: value must be a single line", what, e.key)
				continue
			}
		}
		out = append(out, kv)
	}
	return out
}

func (d *decoder) ports(n *yaml.Node) Ports {
	var items []*yaml.Node
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			d.errorf(n, "expose must not be an empty list")
		}
		items = append(items, n.Content...)
	} else {
		items = []*yaml.Node{n}
	}
	var out Ports
	for _, c := range items {
		s, ok := d.scalar(c, "expose")
		if !ok {
			continue
		}
		num, proto, _ := strings.Cut(s, "/")
		p, err := strconv.Atoi(num)
		if err != nil || p < 1 || p > 65535 {
			d.errorf(c, "expose: %q is not a port (1-65535, optionally /tcp, /udp or /sctp)", s)
			continue
		}
		proto = strings.ToLower(proto)
		if strings.Contains(s, "/") && proto != "tcp" && proto != "udp" && proto != "sctp" {
			d.errorf(c, "expose: unknown protocol %q in %q (tcp, udp or sctp)", proto, s)
			continue
		}
		out = append(out, Port{Number: p, Proto: proto, Range: rangeOf(c)})
	}
	return out
}

func (d *decoder) config(c *Config, e entry, what string) bool {
	v := e.value
	switch e.key {
	case "env":
		c.Env = d.keyValues(v, what+" env", false, nil, "")
	case "workdir":
		c.Workdir, _ = d.oneLine(v, "workdir")
	case "user":
		c.User, _ = d.word(v, "user")
	case "labels":
		c.Labels = d.keyValues(v, what+" labels", false, labelKeyRe, "a label key is one line")
	case "expose":
		c.Expose = d.ports(v)
	case "entrypoint":
		c.Entrypoint = d.command(v, "entrypoint", false)
	case "cmd":
		c.Cmd = d.command(v, "cmd", false)
	case "volumes":
		c.Volumes = d.stringList(v, "volumes")
	case "healthcheck":
		c.Healthcheck = d.healthcheck(v)
	case "stopsignal":
		c.StopSignal = d.matching(d.word, v, "stopsignal", signalRe, "a signal (e.g. SIGTERM or 15)")
	default:
		return false
	}
	return true
}

func (d *decoder) healthcheck(n *yaml.Node) *Healthcheck {
	entries, pos, ok := d.mapping(n, "healthcheck", healthKeys)
	if !ok {
		return nil
	}
	h := &Healthcheck{Range: rangeOf(n), Pos: pos}
	for _, e := range entries {
		v := e.value
		switch e.key {
		case "cmd":
			h.Cmd = d.command(v, "healthcheck cmd", false)
		case "interval", "timeout", "start_period":
			s, ok := d.oneLine(v, "healthcheck "+e.key)
			if !ok {
				continue
			}
			if dur, err := parseDuration(s); err != nil || dur < 0 {
				d.errorf(v, "healthcheck %s: %q is not a duration (e.g. 30s, 1m30s)", e.key, s)
				continue
			}
			switch e.key {
			case "interval":
				h.Interval = s
			case "timeout":
				h.Timeout = s
			default:
				h.StartPeriod = s
			}
		case "retries":
			s, ok := d.scalar(v, "healthcheck retries")
			if !ok {
				continue
			}
			r, err := strconv.Atoi(s)
			if err != nil || r < 0 {
				d.errorf(v, "healthcheck retries: %q is not a non-negative whole number", s)
				continue
			}
			h.Retries = r
		}
	}
	if !pos.Has("cmd") {
		d.errorf(n, "healthcheck needs cmd")
	}
	return h
}
