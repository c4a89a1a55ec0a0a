package zimagefile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// SyntaxRef is the frontend image a ZImagefile names on its first line.
const SyntaxRef = "zlayer/zimagefile"

var (
	syntaxLineRe = regexp.MustCompile(`^#\s*syntax\s*=\s*(\S+)`)
	topKeyRe     = regexp.MustCompile(`^(version|runtime|wasm|stages|base|steps|args)\s*:`)
	dockerInstRe = regexp.MustCompile(`(?i)^(FROM|ARG)\s+\S`)
)

// LooksLike reports whether data is a ZImagefile rather than a Dockerfile,
// judging by content only: a `# syntax=` line naming this frontend, or a YAML
// mapping whose keys are ZImagefile keys.
func LooksLike(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line == "" || line == "---" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			if m := syntaxLineRe.FindStringSubmatch(line); m != nil {
				ref := m[1]
				if strings.Contains(ref, "zimagefile") {
					return true
				}
			}
			continue
		}
		if dockerInstRe.MatchString(line) {
			return false
		}
		if topKeyRe.MatchString(line) {
			return true
		}
		break
	}
	// Fall back to a real parse: a mapping with any ZImagefile key.
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil || len(m) == 0 {
		return false
	}
	for k := range m {
		if slices.Contains(topKeys, k) {
			return true
		}
	}
	return false
}

// ErrNoRuntime is returned by DetectRuntime when no marker file is found.
var ErrNoRuntime = errors.New("no runtime detected")

// DetectRuntime picks a runtime template from the files at the root of a
// build context. The order settles projects with several markers: a bun or
// deno lockfile beats package.json, and a compiled language beats the
// node tooling it may carry for assets.
func DetectRuntime(contextDir string) (string, error) {
	st, err := os.Stat(contextDir)
	if err != nil {
		return "", fmt.Errorf("detect runtime: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("detect runtime: %s is not a directory", contextDir)
	}
	checks := []struct {
		files   []string
		runtime string
	}{
		{[]string{"bun.lockb", "bun.lock", "bunfig.toml"}, "bun"},
		{[]string{"deno.json", "deno.jsonc", "deno.lock"}, "deno"},
		{[]string{"Cargo.toml"}, "rust"},
		{[]string{"pyproject.toml", "requirements.txt"}, "python"},
		{[]string{"go.mod"}, "go"},
		{[]string{"package.json"}, "node"},
	}
	for _, c := range checks {
		for _, name := range c.files {
			if fi, err := os.Stat(filepath.Join(contextDir, name)); err == nil && !fi.IsDir() {
				return c.runtime, nil
			}
		}
	}
	return "", fmt.Errorf("%w in %s: expected one of bun.lockb, deno.json, Cargo.toml, pyproject.toml, requirements.txt, go.mod or package.json", ErrNoRuntime, contextDir)
}
