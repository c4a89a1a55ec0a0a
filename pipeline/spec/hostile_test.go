package spec

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/internal/yamldoc"
)

// A few lines that expand exponentially must be refused after bounded work,
// at the alias that went over the budget, instead of being walked.
func TestAliasBombRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("vars:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("  a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("images:\n  a: {file: Dockerfile}\n")
	dir := tree(t, map[string]string{"Dockerfile": "FROM busybox\n"})
	_, err := Parse(filepath.Join(dir, "ZPipeline.yaml"), []byte(b.String()), nil)
	if !errors.Is(err, yamldoc.ErrBudget) {
		t.Fatalf("alias bomb: got %v, want a budget error", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Pos.Line < 2 {
		t.Fatalf("alias bomb: error %v has no position", err)
	}
}

// Merge keys share image settings; merged values are checked like written
// ones, and keys written in the image win.
func TestMergeKeys(t *testing.T) {
	dir := tree(t, map[string]string{"Dockerfile": "FROM busybox\n"})
	file := filepath.Join(dir, "ZPipeline.yaml")
	src := `images:
  a: &common
    file: Dockerfile
    format: docker
    no_cache: true
  b:
    <<: *common
    format: oci
    tags: [b:1]
`
	pl, err := Parse(file, []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := pl.Image("b")
	if b.Format != "oci" || !b.NoCache || b.File != filepath.Join(dir, "Dockerfile") {
		t.Fatalf("merged image b = %+v", b)
	}
	// A merged value is validated where the merge uses it.
	src = `images:
  a: &common
    file: Dockerfile
  b:
    <<: *common
    format: tarball
  c:
    <<: [*common, {format: bad}]
`
	_, err = Parse(file, []byte(src), nil)
	if err == nil || !strings.Contains(err.Error(), `format "tarball": want oci or docker`) || !strings.Contains(err.Error(), `format "bad": want oci or docker`) {
		t.Fatalf("bad merged format: got %v", err)
	}
	// An unknown key smuggled in through a merge is still unknown.
	src = "images:\n  a:\n    <<: {file: Dockerfile, dependson: [x]}\n"
	_, err = Parse(file, []byte(src), nil)
	if err == nil || !strings.Contains(err.Error(), `unknown key "dependson" in image a (did you mean "depends_on"?)`) {
		t.Fatalf("merged unknown key: got %v", err)
	}
}

func TestSecondDocumentRefused(t *testing.T) {
	dir := tree(t, map[string]string{"Dockerfile": "FROM busybox\n"})
	_, err := Parse(filepath.Join(dir, "ZPipeline.yaml"), []byte("images:\n  a: {file: Dockerfile}\n---\nimages: {}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "ZPipeline.yaml:4:1: more than one document") {
		t.Fatalf("two documents: got %v", err)
	}
}

// Found by FuzzParse: "images:" with nothing under it was accepted as a
// pipeline that builds nothing.
func TestImagesNullRefused(t *testing.T) {
	dir := tree(t, nil)
	_, err := Parse(filepath.Join(dir, "ZPipeline.yaml"), []byte("version: \"1\"\nimages:\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "ZPipeline.yaml:2:8: images: is empty") {
		t.Fatalf("images: null: got %v", err)
	}
}

// Found by FuzzParse: an image with nothing under it was dropped silently.
func TestEmptyImageRefused(t *testing.T) {
	dir := tree(t, nil)
	_, err := Parse(filepath.Join(dir, "ZPipeline.yaml"), []byte("images:\n  a:\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "ZPipeline.yaml:2:3: image a: file is required") {
		t.Fatalf("empty image: got %v", err)
	}
}

func TestLoadRefusesHugeFile(t *testing.T) {
	dir := tree(t, map[string]string{"ZPipeline.yaml": "# " + strings.Repeat("x", MaxBytes) + "\n"})
	_, err := Load(filepath.Join(dir, "ZPipeline.yaml"), nil)
	if !errors.Is(err, yamldoc.ErrTooLarge) || !strings.Contains(err.Error(), "ZPipeline.yaml: larger than") {
		t.Fatalf("huge file: got %v", err)
	}
}
