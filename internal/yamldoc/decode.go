package yamldoc

import (
	"errors"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Decode decodes n into v like n.Decode, but a value of the wrong type is an
// *Error located in file at that value: yaml.v3 names only the line, so the
// column is that of the last node written on it (the value, after its key).
// Several wrong values give several errors, joined.
func Decode(file string, n *yaml.Node, v any) error {
	err := n.Decode(v)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		if err != nil {
			return &Error{File: file, Pos: PosOf(n), Msg: err.Error(), Err: err}
		}
		return nil
	}
	var errs []error
	for _, msg := range te.Errors {
		p := PosOf(n)
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if num, tail, ok := strings.Cut(rest, ": "); ok {
				if l, convErr := strconv.Atoi(num); convErr == nil {
					p, msg = lastOnLine(n, l), tail
				}
			}
		}
		errs = append(errs, &Error{File: file, Pos: p, Msg: msg})
	}
	return errors.Join(errs...)
}

// lastOnLine is the position of the last node of n's tree on line, or the
// line's first column if none is.
func lastOnLine(n *yaml.Node, line int) Pos {
	p := Pos{Line: line, Column: 1}
	var walk func(*yaml.Node)
	walk = func(m *yaml.Node) {
		if m.Line == line && m.Column >= p.Column {
			p.Column = m.Column
		}
		for _, c := range m.Content {
			walk(c)
		}
	}
	walk(n)
	return p
}
