package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// uiDir is the front end's sources, from this package's folder.
const uiDir = "../../ui"

// sourceFiles are the files ui/scripts/stamp.mjs hashes: everything under
// ui/ but node_modules, scripts, dot files and the unit tests (which do
// not change the build).
func sourceFiles(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "node_modules" || name == "scripts" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".test.ts") || strings.HasPrefix(name, ".") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(out)
	return out, err
}

// sourcesHash is stamp.mjs's hash: per file its path, a NUL, the hex
// SHA-256 of its content and a newline, hashed together in path order.
func sourcesHash(root string, files []string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return "", err
		}
		fh := sha256.Sum256(b)
		fmt.Fprintf(h, "%s\x00%s\n", f, hex.EncodeToString(fh[:]))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// TestBuildIsFresh fails when ui/ changed after the checked-in build in
// dist/ was made: run `make ui` and commit dist/ and sources.sha256.
func TestBuildIsFresh(t *testing.T) {
	files, err := sourceFiles(uiDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("only %d console sources under %s: %v", len(files), uiDir, files)
	}
	got, err := sourcesHash(uiDir, files)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("sources.sha256")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(want)) != got {
		t.Fatalf("noderuntime/console/dist is stale: ui/ sources hash to %s, the build was made from %s; run `make ui` and commit the result\nsources: %v",
			got, strings.TrimSpace(string(want)), files)
	}
}

// budget is the console's whole download, gzip-compressed.
const budget = 200 << 10

func TestBundleWithinBudget(t *testing.T) {
	total := 0
	var index bool
	err := fs.WalkDir(Dist(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		index = index || p == "index.html"
		b, err := fs.ReadFile(Dist(), p)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if _, err := zw.Write(b); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		t.Logf("%s: %d bytes, %d gzip", p, len(b), buf.Len())
		total += buf.Len()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !index {
		t.Fatal("the build has no index.html")
	}
	if total > budget {
		t.Fatalf("the console is %d bytes gzip, over its budget of %d", total, budget)
	}
}
