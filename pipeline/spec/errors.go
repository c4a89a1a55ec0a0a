package spec

import (
	"strings"

	"github.com/zlayer/zlayer/internal/yamldoc"
)

// Pos is a place in a pipeline file, 1-based as editors count.
type Pos = yamldoc.Pos

// Error is one problem in a pipeline file, placed where the user must look.
type Error = yamldoc.Error

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
