// Package buildfile finds the build file of a context and tells a ZImagefile
// from a Dockerfile by its content, so a file's name never decides its kind.
package buildfile

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kind is what a build file is written in.
type Kind int

const (
	Dockerfile Kind = iota
	ZImagefile
)

func (k Kind) String() string {
	if k == ZImagefile {
		return "ZImagefile"
	}
	return "Dockerfile"
}

// File is a build file found for a build.
type File struct {
	Path   string // absolute
	Kind   Kind
	Syntax string // the "# syntax=" directive's value, "" when absent
	Data   []byte
}

// NotFoundError says no build file was found in a context.
type NotFoundError struct{ Context string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no build file in %s: looked for ZImagefile, ZImagefile.<suffix> and Dockerfile; name one with -f", e.Context)
}

// Find returns the build file for contextDir: explicit when given (relative to
// the working folder, as docker reads -f), else ZImagefile, else the single
// ZImagefile.<suffix>, else Dockerfile.
func Find(contextDir, explicit string) (*File, error) {
	path := explicit
	if path == "" {
		p, err := pick(contextDir)
		if err != nil {
			return nil, err
		}
		path = p
	}
	return Read(path)
}

// Read loads and classifies the build file at path.
func Read(path string) (*File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("build file %s does not exist", path)
		}
		return nil, fmt.Errorf("build file: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("build file %s is a folder; -f names a file (the context is the last argument)", path)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("read build file: %w", err)
	}
	return &File{Path: abs, Kind: Detect(data), Syntax: Syntax(data), Data: data}, nil
}

func pick(dir string) (string, error) {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return "", fmt.Errorf("build context %s is not a folder", dir)
	}
	if isFile(filepath.Join(dir, "ZImagefile")) {
		return filepath.Join(dir, "ZImagefile"), nil
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "ZImagefile.*"))
	var files []string
	for _, m := range matches {
		if isFile(m) {
			files = append(files, m)
		}
	}
	sort.Strings(files)
	switch len(files) {
	case 1:
		return files[0], nil
	case 0:
	default:
		var names []string
		for _, f := range files {
			names = append(names, filepath.Base(f))
		}
		return "", fmt.Errorf("several ZImagefiles in %s (%s): pick one with -f", dir, strings.Join(names, ", "))
	}
	if isFile(filepath.Join(dir, "Dockerfile")) {
		return filepath.Join(dir, "Dockerfile"), nil
	}
	return "", &NotFoundError{Context: dir}
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Syntax returns the value of a leading "# syntax=REF" directive, which picks
// the BuildKit frontend for either kind of file.
func Syntax(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "#") {
			return ""
		}
		body := strings.TrimSpace(strings.TrimPrefix(line, "#"))
		k, v, ok := strings.Cut(body, "=")
		if !ok {
			continue
		}
		if strings.EqualFold(strings.TrimSpace(k), "syntax") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
