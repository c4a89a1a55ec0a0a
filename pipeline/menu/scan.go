// Package menu is the interactive front door of `zlayer` with no arguments:
// it lists the pipelines, ZImagefiles and Dockerfiles under the working
// folder, asks for tags and vars, and hands back what to run.
package menu

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zlayer/zlayer/pipeline/buildfile"
	"github.com/zlayer/zlayer/pipeline/spec"
)

// Kind is what an item builds.
type Kind int

const (
	Pipeline Kind = iota
	ZImagefile
	Dockerfile
)

func (k Kind) String() string {
	return [...]string{"pipeline", "ZImagefile", "Dockerfile"}[k]
}

// Item is one buildable file found under the folder.
type Item struct {
	Kind Kind
	Path string // relative to the scanned folder
}

// skipDirs are never worth descending into for build files.
var skipDirs = map[string]bool{".git": true, "node_modules": true, "vendor": true, ".cache": true, "target": true, "dist": true, "out": true}

// Scan walks dir (at most depth folders down) for build files: pipelines
// first, then ZImagefiles, then Dockerfiles, each sorted by path.
func Scan(dir string, depth int) []Item {
	var items []Item
	root := filepath.Clean(dir)
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if p != root && (skipDirs[d.Name()] || strings.HasPrefix(d.Name(), ".") || strings.Count(rel, string(filepath.Separator)) >= depth) {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		switch {
		case isPipelineName(name):
			items = append(items, Item{Kind: Pipeline, Path: rel})
		case name == "ZImagefile" || strings.HasPrefix(name, "ZImagefile.") ||
			name == "Dockerfile" || strings.HasPrefix(name, "Dockerfile.") || strings.HasSuffix(name, ".Dockerfile"):
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			k := Dockerfile
			if buildfile.Detect(data) == buildfile.ZImagefile {
				k = ZImagefile
			}
			items = append(items, Item{Kind: k, Path: rel})
		}
		return nil
	})
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].Kind != items[j].Kind {
			return items[i].Kind < items[j].Kind
		}
		return items[i].Path < items[j].Path
	})
	return items
}

func isPipelineName(name string) bool {
	for _, n := range spec.DefaultFiles {
		if name == n {
			return true
		}
	}
	return false
}
