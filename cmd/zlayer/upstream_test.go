package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpstreamExamplesDryRun runs the upstream-style specs of
// testdata/upstream (upstream ZLayer's documented examples, written out
// anew) through deploy --dry-run: those without a .want file parse; the
// others fail with exactly the errors their .want file lists, each a
// not-supported key or value at its line and column.
func TestUpstreamExamplesDryRun(t *testing.T) {
	files, _ := filepath.Glob("testdata/upstream/*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d upstream examples", len(files))
	}
	ok := 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			err := (&DeployCmd{SpecArg: f, DryRun: true}).Run(t.Context())
			want, rerr := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".want")
			if errors.Is(rerr, os.ErrNotExist) {
				if err != nil {
					t.Fatalf("dry run: %v", err)
				}
				ok++
				return
			}
			if err == nil {
				t.Fatal("dry run passed, want not-supported errors")
			}
			var got []string
			for _, l := range strings.Split(err.Error(), "\n")[1:] {
				got = append(got, strings.TrimPrefix(l, filepath.Dir(f)+"/"))
			}
			wantLines := strings.Split(strings.TrimSpace(string(want)), "\n")
			if strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLines, "\n"))
			}
			for _, l := range got {
				if !strings.HasSuffix(l, "is not supported by this node") {
					t.Errorf("not a not-supported error: %s", l)
				}
			}
		})
	}
	if ok == 0 {
		t.Error("no upstream example parsed")
	}
}
