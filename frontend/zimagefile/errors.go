package zimagefile

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a ZImagefile, at a line and column.
type Error struct {
	File  string
	Range Range
	Msg   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Range.Start.Line, e.Range.Start.Column, e.Msg)
}

// ErrorList is every problem found in a file, in file order. Parse returns
// one so that users fix a file in one round trip.
type ErrorList []*Error

func (l ErrorList) Error() string {
	if len(l) == 1 {
		return l[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems in %s:", len(l), l[0].File)
	for _, e := range l {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find the individual errors.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Range.Start, l[j].Range.Start
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	// Drop exact duplicates (an alias decoded twice reports twice).
	out := l[:0]
	for i, e := range l {
		if i > 0 && len(out) > 0 && e.Range.Start == out[len(out)-1].Range.Start && e.Msg == out[len(out)-1].Msg {
			continue
		}
		out = append(out, e)
	}
	return out
}

// Pretty renders the errors with the offending line of data under each, the
// way compilers do, for terminals (buildx shows its own snippets).
func (l ErrorList) Pretty(data []byte) string {
	// Lines as YAML counts them: \n, \r\n or a lone \r.
	text := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(text, "\n")
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
		n := e.Range.Start.Line
		if n >= 1 && n <= len(lines) {
			text := strings.TrimRight(lines[n-1], "\r")
			fmt.Fprintf(&b, "\n %4d | %s\n      | %s^", n, text, strings.Repeat(" ", max(0, e.Range.Start.Column-1)))
		}
	}
	return b.String()
}
