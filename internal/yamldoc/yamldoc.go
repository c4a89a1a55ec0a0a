// Package yamldoc reads one YAML document into a plain node tree that a
// checker and a decoder can share: aliases are replaced by copies of what they
// name and merge keys (<<) are applied, so the tree holds no alias nodes and
// whatever a check looks at is exactly what Node.Decode turns into values.
//
// The work a document can cause is bounded: bytes read (MaxBytes) and nodes
// produced by expanding aliases and merges (MaxAliasNodes), so a small file
// that expands exponentially ("billion laughs") is refused after a bounded
// amount of work, with the position of the alias that went over the budget.
package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Defaults for Limits fields left zero.
const (
	// DefaultMaxBytes bounds the size of a document; it matches the node
	// API's request body limit.
	DefaultMaxBytes = 4 << 20
	// DefaultMaxAliasNodes bounds the nodes that aliases and merge keys may
	// add to a document. Sharing a service template across a few hundred
	// services stays far below it; copying that many nodes takes
	// milliseconds.
	DefaultMaxAliasNodes = 100_000
)

// Limits bound the work one document may cause. Zero fields take the defaults.
type Limits struct {
	MaxBytes      int64
	MaxAliasNodes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxAliasNodes <= 0 {
		l.MaxAliasNodes = DefaultMaxAliasNodes
	}
	return l
}

// Pos is a position in a document; Line and Column count from 1. The zero
// Pos means the problem concerns the document as a whole.
type Pos struct {
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

// PosOf returns n's position.
func PosOf(n *yaml.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return Pos{Line: n.Line, Column: n.Column}
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Column) }

// Error is a problem with a document, located in its file.
type Error struct {
	File string
	Pos  Pos
	Msg  string
	// Err is the cause this error wraps (ErrTooLarge, ErrEmpty), if any.
	Err error
}

func (e *Error) Error() string {
	loc := e.File
	if loc == "" {
		loc = "<document>"
	}
	if e.Pos.Line > 0 {
		loc += ":" + e.Pos.String()
	}
	return loc + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Causes callers may act on, matched with errors.Is.
var (
	// ErrTooLarge: the document is over Limits.MaxBytes.
	ErrTooLarge = errors.New("document too large")
	// ErrEmpty: the input holds no document (nothing, or only comments).
	ErrEmpty = errors.New("empty document")
	// ErrBudget: aliases and merge keys would expand the document past
	// Limits.MaxAliasNodes.
	ErrBudget = errors.New("document expands too much via aliases")
	// ErrSyntax: the input is not well-formed YAML.
	ErrSyntax = errors.New("invalid YAML")
	// ErrMultipleDocs: the input holds a second, non-empty document.
	ErrMultipleDocs = errors.New("more than one document")
)

// ReadFile reads the file at path, refusing one over maxBytes (0: the default).
func ReadFile(path string, maxBytes int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(path, f, maxBytes)
}

// ReadAll reads r, named file in errors, refusing more than maxBytes (0: the
// default) rather than truncating.
func ReadAll(file string, r io.Reader, maxBytes int64) ([]byte, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	b, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if int64(len(b)) > maxBytes {
		return nil, &Error{File: file, Msg: fmt.Sprintf("larger than %d bytes", maxBytes), Err: ErrTooLarge}
	}
	return b, nil
}

// Parse reads the single YAML document in data (named file in errors) and
// returns its root node expanded: no alias nodes, merge keys applied. An
// input with no document is an *Error wrapping ErrEmpty; one with more than
// one document is refused at the start of the second.
func Parse(file string, data []byte, lim Limits) (*yaml.Node, error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxBytes {
		return nil, &Error{File: file, Msg: fmt.Sprintf("larger than %d bytes", lim.MaxBytes), Err: ErrTooLarge}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "empty document", Err: ErrEmpty}
		}
		return nil, syntaxError(file, data, err)
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, syntaxError(file, data, err)
		}
		// A trailing "---" makes an empty document, which is harmless.
		if len(next.Content) == 0 || isEmpty(next.Content[0]) {
			continue
		}
		p := PosOf(&next)
		if len(next.Content) > 0 {
			p = PosOf(next.Content[0])
		}
		return nil, &Error{File: file, Pos: p, Msg: "more than one document (a second one starts here); give one document per file", Err: ErrMultipleDocs}
	}
	if len(doc.Content) == 0 || isEmpty(doc.Content[0]) {
		return nil, &Error{File: file, Msg: "empty document", Err: ErrEmpty}
	}
	root := doc.Content[0]
	x := &expander{file: file, limit: lim.MaxAliasNodes, budget: lim.MaxAliasNodes, active: map[*yaml.Node]bool{}}
	out, err := x.expand(root, false)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// expander copies a node graph into a tree. Nodes reached through an alias or
// a merge count against budget, so the copy's size is bounded whatever the
// document's shape.
type expander struct {
	file          string
	limit, budget int
	// active holds the nodes being copied: an alias to one of them is a
	// value that contains itself.
	active map[*yaml.Node]bool
}

func (x *expander) errAt(n *yaml.Node, cause error, format string, args ...any) error {
	return &Error{File: x.file, Pos: PosOf(n), Msg: fmt.Sprintf(format, args...), Err: cause}
}

// expand returns a copy of n without aliases or merge keys. aliased is true
// below an alias or a merge, where every node produced counts against the
// budget.
func (x *expander) expand(n *yaml.Node, aliased bool) (*yaml.Node, error) {
	if aliased {
		if x.budget--; x.budget < 0 {
			return nil, x.errAt(n, ErrBudget, "document expands to more than %d nodes via aliases", x.limit)
		}
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil, x.errAt(n, nil, "alias *%s names no anchor", n.Value)
		}
		if x.active[n.Alias] {
			return nil, x.errAt(n, nil, "alias *%s refers to a value that contains it", n.Value)
		}
		c, err := x.expand(n.Alias, true)
		if err != nil {
			return nil, err
		}
		// The copy is located where the alias is used: that is where the
		// value takes effect, and what a check of it must point at.
		c.Line, c.Column = n.Line, n.Column
		return c, nil
	}
	// A node is never its own descendant in a parsed document, so the
	// entry can simply be removed on the way out.
	x.active[n] = true
	defer delete(x.active, n)
	c := *n
	c.Anchor, c.Alias, c.Content = "", nil, nil
	if n.Kind == yaml.MappingNode {
		return x.mapping(n, &c, aliased)
	}
	if len(n.Content) > 0 {
		c.Content = make([]*yaml.Node, 0, len(n.Content))
	}
	for _, e := range n.Content {
		ec, err := x.expand(e, aliased)
		if err != nil {
			return nil, err
		}
		c.Content = append(c.Content, ec)
	}
	return &c, nil
}

// mapping copies the mapping n into c, applying merge keys with YAML 1.1
// semantics: keys written in the mapping win over merged ones, and among the
// mappings of `<<: [*a, *b]` the earlier wins. Merged pairs take the place of
// the << key, so key order stays the order a reader sees.
func (x *expander) mapping(n, c *yaml.Node, aliased bool) (*yaml.Node, error) {
	explicit := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !isMerge(k) && k.Kind == yaml.ScalarNode {
			explicit[k.Value] = true
		}
	}
	merged := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isMerge(k) {
			kc, err := x.expand(k, aliased)
			if err != nil {
				return nil, err
			}
			vc, err := x.expand(v, aliased)
			if err != nil {
				return nil, err
			}
			c.Content = append(c.Content, kc, vc)
			continue
		}
		srcs := []*yaml.Node{v}
		if deref(v).Kind == yaml.SequenceNode {
			srcs = deref(v).Content
		}
		for _, src := range srcs {
			m, err := x.expand(src, true)
			if err != nil {
				return nil, err
			}
			if m.Kind != yaml.MappingNode {
				return nil, x.errAt(src, nil, "a merge key (<<) takes a mapping or a list of mappings, got %s", KindName(m))
			}
			for j := 0; j+1 < len(m.Content); j += 2 {
				mk := m.Content[j]
				if explicit[mk.Value] || merged[mk.Value] {
					continue
				}
				merged[mk.Value] = true
				c.Content = append(c.Content, mk, m.Content[j+1])
			}
		}
	}
	return c, nil
}

// isEmpty reports the null a document holds when nothing is written in it
// (a bare "---"); an explicit null (~, null) is a value.
func isEmpty(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == "" && n.Style == 0
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// isMerge reports a merge key: a plain << (which yaml.v3 tags !!merge) or
// one tagged !!merge explicitly; a quoted "<<" is an ordinary key.
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

// KindName names what n is for messages that say what was expected instead:
// a mapping, a list, null, or the scalar as written.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

var lineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError locates a yaml.v3 parse error. yaml.v3 gives only a line (as
// text) for most, and no position for bad characters or unknown anchors,
// which are found here.
func syntaxError(file string, data []byte, err error) error {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		if l, convErr := strconv.Atoi(m[1]); convErr == nil {
			return &Error{File: file, Pos: Pos{Line: l, Column: 1}, Msg: m[2], Err: ErrSyntax}
		}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	var p Pos
	if m := anchorRE.FindStringSubmatch(msg); m != nil {
		p = aliasPos(data, m[1])
	} else {
		p = badCharPos(data)
	}
	if p.Line == 0 {
		// yaml.v3 leaves out the line when the problem is on the first one
		// (it prints 0-based lines and omits line 0).
		p = Pos{Line: 1, Column: 1}
	}
	return &Error{File: file, Pos: p, Msg: msg, Err: ErrSyntax}
}

var anchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// aliasPos finds the first *name in data that is a whole alias, or returns
// the zero Pos.
func aliasPos(data []byte, name string) Pos {
	at := 0
	for {
		i := bytes.Index(data[at:], []byte("*"+name))
		if i < 0 {
			return Pos{}
		}
		i += at
		end := i + 1 + len(name)
		if end == len(data) || strings.IndexByte(" \t\r\n,]}:", data[end]) >= 0 {
			line := 1 + bytes.Count(data[:i], []byte("\n"))
			col := 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:i], '\n')+1:i])
			return Pos{Line: line, Column: col}
		}
		at = i + 1
	}
}

// badCharPos returns the position of the first byte that is not valid UTF-8
// or is a control character YAML does not allow, or the zero Pos.
func badCharPos(data []byte) Pos {
	line, col := 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if (r == utf8.RuneError && size <= 1) || !printable(r) {
			return Pos{Line: line, Column: col}
		}
		data = data[size:]
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return Pos{}
}

// printable is YAML 1.2's c-printable set.
func printable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return true
	case r >= 0x20 && r <= 0x7e:
		return true
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		return r != 0xfeff
	}
	return false
}
