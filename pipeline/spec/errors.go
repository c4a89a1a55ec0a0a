package spec

import (
	"fmt"
	"strings"
)

// Pos is a place in a pipeline file, 1-based as editors count.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem in a pipeline file, placed where the user must look.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList carries every problem found in one pass, so a user fixes a file
// in one edit instead of one error per run.
type ErrorList []*Error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// CycleError reports a dependency cycle; Cycle lists the image names along it,
// first name repeated at the end.
type CycleError struct {
	Pos   Pos
	Cycle []string
}

func (e *CycleError) Error() string {
	return fmt.Sprintf("%s: dependency cycle: %s", e.Pos, strings.Join(e.Cycle, " -> "))
}
