package stack

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
)

// repoRoot finds the module root from the working directory, which go test
// sets to the package folder.
func repoRoot() (string, error) {
	if r := os.Getenv("ZLAYER_REPO"); r != "" {
		return r, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && len(b) > 0 &&
			fileHasModule(b, "github.com/zlayer/zlayer") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the zlayer module (set ZLAYER_REPO)")
		}
		dir = parent
	}
}

func fileHasModule(gomod []byte, mod string) bool {
	want := "module " + mod
	for _, line := range splitLines(string(gomod)) {
		if line == want {
			return true
		}
	}
	return false
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// toolsDir is where tools/build.sh put the pinned tools.
func toolsDir(root string) string {
	if d := os.Getenv("ZLAYER_TOOLS"); d != "" {
		return d
	}
	return filepath.Join(root, ".cache", "tools")
}

func busyboxBinary(tools string) string {
	return filepath.Join(tools, "busybox", "bin", "busybox")
}

// LookPath is exec.LookPath that also searches the sbin folders, which a
// non-login root shell may lack.
func LookPath(name string) (string, error) { return lookPath(name) }

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}
