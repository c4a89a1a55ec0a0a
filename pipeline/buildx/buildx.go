// Package buildx drives the stock `docker buildx` CLI: bake for pipelines and
// build for single images. It finds the plugin (or a standalone buildx),
// checks that the builder answers, and turns buildx's rawjson progress into
// step names and a readable failure message.
package buildx

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// NotInstalledError says buildx could not be found, and how to get it.
type NotInstalledError struct{ Detail string }

func (e *NotInstalledError) Error() string {
	return "docker buildx is not installed (" + e.Detail + "). Install the buildx plugin: Debian/Ubuntu `apt-get install docker-buildx`, " +
		"or put a buildx release binary at ~/.docker/cli-plugins/docker-buildx (chmod +x); a standalone `buildx` on PATH works too"
}

// BuilderError says the builder could not be reached or does not exist.
type BuilderError struct {
	Builder string
	Detail  string
}

func (e *BuilderError) Error() string {
	name := e.Builder
	if name == "" {
		name = "the current builder"
	} else {
		name = "builder " + name
	}
	return fmt.Sprintf("%s is unreachable: %s (list builders with `docker buildx ls`; pick one with --builder or BUILDX_BUILDER)", name, e.Detail)
}

// CLI runs buildx commands.
type CLI struct {
	argv0   []string // "docker buildx" or "buildx"
	Builder string   // --builder, "" for buildx's own choice
	Env     []string // nil: this process's environment
}

// Find locates buildx: the docker CLI plugin, else a standalone buildx on
// PATH. env is the environment buildx will run with (nil: this process's).
func Find(builder string, env []string) (*CLI, error) {
	var tried []string
	// The plugin binary runs standalone with the same builders and config;
	// calling it directly saves the docker CLI's start-up on every build,
	// which a pipeline pays once per image.
	if p := pluginPath(env); p != "" {
		cmd := exec.Command(p, "version")
		cmd.Env = env
		if cmd.Run() == nil {
			return &CLI{argv0: []string{p}, Builder: builder, Env: env}, nil
		}
	}
	if docker, err := lookPath("docker", env); err == nil {
		cmd := exec.Command(docker, "buildx", "version")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err == nil {
			return &CLI{argv0: []string{docker, "buildx"}, Builder: builder, Env: env}, nil
		}
		tried = append(tried, "docker has no buildx plugin: "+firstLine(string(out)))
	} else {
		tried = append(tried, "no docker CLI on PATH")
	}
	if bx, err := lookPath("buildx", env); err == nil {
		cmd := exec.Command(bx, "version")
		cmd.Env = env
		if cmd.Run() == nil {
			return &CLI{argv0: []string{bx}, Builder: builder, Env: env}, nil
		}
	}
	tried = append(tried, "no buildx on PATH")
	return nil, &NotInstalledError{Detail: strings.Join(tried, "; ")}
}

// pluginPath finds the docker-buildx CLI plugin where the docker CLI looks
// for it, or "".
func pluginPath(env []string) string {
	get := func(k string) string {
		v := ""
		found := false
		for _, kv := range env {
			if strings.HasPrefix(kv, k+"=") {
				v, found = kv[len(k)+1:], true
			}
		}
		if !found && env == nil {
			v = os.Getenv(k)
		}
		return v
	}
	var dirs []string
	if d := get("DOCKER_CONFIG"); d != "" {
		dirs = append(dirs, filepath.Join(d, "cli-plugins"))
	} else if h := get("HOME"); h != "" {
		dirs = append(dirs, filepath.Join(h, ".docker", "cli-plugins"))
	}
	dirs = append(dirs, "/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
		"/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")
	for _, d := range dirs {
		p := filepath.Join(d, "docker-buildx")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// lookPath finds name on env's PATH (this process's when env has none).
func lookPath(name string, env []string) (string, error) {
	path, found := "", false
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			path, found = kv[5:], true
		}
	}
	if !found {
		return exec.LookPath(name)
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

func (c *CLI) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append([]string{}, c.argv0...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = c.Env
	return cmd
}

func (c *CLI) builderArgs() []string {
	if c.Builder == "" {
		return nil
	}
	return []string{"--builder", c.Builder}
}

// Check makes sure the builder exists and answers, and returns its driver
// (docker-container, remote, kubernetes or docker).
func (c *CLI) Check(ctx context.Context) (driver string, err error) {
	args := append([]string{"inspect", "--bootstrap"}, c.builderArgs()...)
	out, err := c.command(ctx, args...).CombinedOutput()
	if err != nil {
		return "", &BuilderError{Builder: c.Builder, Detail: lastError(string(out), err)}
	}
	return parseDriver(string(out)), nil
}

func parseDriver(inspect string) string {
	for _, l := range strings.Split(inspect, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "Driver" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Command returns an *exec.Cmd for buildx with the given arguments, the
// builder flag inserted after the subcommand.
func (c *CLI) Command(ctx context.Context, sub string, args ...string) *exec.Cmd {
	all := append(append([]string{sub}, c.builderArgs()...), args...)
	return c.command(ctx, all...)
}

// BakeOptions describe one bake call.
type BakeOptions struct {
	Definition []byte // bake JSON
	Targets    []string
	Dir        string // working folder (relative paths in Definition start here)
	WorkDir    string // where the definition and metadata files are written
	Name       string // base name for those files
	OnStep     func(step string)
	OnLog      func(line string) // build output lines (RUN stdout/stderr)
	// Allow grants bake entitlements (e.g. fs.write=DIR) that it would
	// otherwise ask for interactively.
	Allow []string
}

// Bake runs `buildx bake` and returns the metadata buildx wrote per target.
func (c *CLI) Bake(ctx context.Context, o BakeOptions) (map[string]Metadata, error) {
	defPath := filepath.Join(o.WorkDir, o.Name+".bake.json")
	metaPath := filepath.Join(o.WorkDir, o.Name+".metadata.json")
	if err := os.WriteFile(defPath, o.Definition, 0o644); err != nil {
		return nil, err
	}
	args := []string{"--file", defPath, "--metadata-file", metaPath, "--progress", "rawjson"}
	for _, a := range o.Allow {
		args = append(args, "--allow", a)
	}
	cmd := c.Command(ctx, "bake", append(args, o.Targets...)...)
	cmd.Dir = o.Dir
	if err := c.runWithProgress(cmd, o.OnStep, o.OnLog); err != nil {
		return nil, err
	}
	return readMetadata(metaPath)
}

// Metadata is buildx's --metadata-file entry for one target.
type Metadata struct {
	Digest string `json:"containerimage.digest"`
	Ref    string `json:"buildx.build.ref"`
}

func readMetadata(path string) (map[string]Metadata, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("buildx metadata: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("buildx metadata %s: %w", path, err)
	}
	out := map[string]Metadata{}
	for k, v := range raw {
		var m Metadata
		if json.Unmarshal(v, &m) == nil {
			out[k] = m
		}
	}
	return out, nil
}

// BuildError is a failed buildx run, with the lines that explain it.
type BuildError struct {
	Message string
	Err     error
}

func (e *BuildError) Error() string { return e.Message }
func (e *BuildError) Unwrap() error { return e.Err }

func (c *CLI) runWithProgress(cmd *exec.Cmd, onStep, onLog func(string)) error {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start buildx: %w", err)
	}
	tr := NewTracker(onStep, onLog)
	tr.Consume(stderr)
	err = cmd.Wait()
	if err != nil {
		msg := tr.Failure()
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if msg == "" {
			msg = err.Error()
		}
		return &BuildError{Message: msg, Err: err}
	}
	return nil
}

// Tracker follows buildx's rawjson progress stream.
type Tracker struct {
	onStep, onLog func(string)
	names         map[string]string
	running       []string // started, not completed vertex digests, in start order
	vertexErr     []vertexError
	logs          map[string][]string // last lines per vertex
	other         []string            // non-JSON lines (buildx's own messages)
	current       string
}

// NewTracker returns a tracker calling onStep when the running step changes
// and onLog for each line a step prints; either may be nil.
func NewTracker(onStep, onLog func(string)) *Tracker {
	return &Tracker{onStep: onStep, onLog: onLog, names: map[string]string{}, logs: map[string][]string{}}
}

type vertexError struct{ digest, msg string }

type rawStatus struct {
	Vertexes []struct {
		Digest    string  `json:"digest"`
		Name      string  `json:"name"`
		Started   *string `json:"started"`
		Completed *string `json:"completed"`
		Cached    bool    `json:"cached"`
		Error     string  `json:"error"`
	} `json:"vertexes"`
	Logs []struct {
		Vertex string `json:"vertex"`
		Data   []byte `json:"data"`
	} `json:"logs"`
}

// Consume reads the stream to its end.
func (t *Tracker) Consume(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		t.Line(sc.Text())
	}
}

// Line handles one line of buildx's stderr.
func (t *Tracker) Line(line string) {
	if !strings.HasPrefix(line, "{") {
		if s := strings.TrimSpace(line); s != "" {
			t.other = append(t.other, s)
			if len(t.other) > 40 {
				t.other = t.other[len(t.other)-40:]
			}
		}
		return
	}
	var st rawStatus
	if json.Unmarshal([]byte(line), &st) != nil {
		return
	}
	for _, v := range st.Vertexes {
		if v.Name != "" {
			t.names[v.Digest] = v.Name
		}
		switch {
		case v.Error != "":
			t.remove(v.Digest)
			if !strings.Contains(v.Error, "context canceled") {
				t.vertexErr = append(t.vertexErr, vertexError{v.Digest, fmt.Sprintf("%s: %s", t.names[v.Digest], v.Error)})
			}
		case v.Completed != nil:
			t.remove(v.Digest)
		case v.Started != nil:
			if !t.has(v.Digest) {
				t.running = append(t.running, v.Digest)
			}
		}
	}
	for _, l := range st.Logs {
		for _, ln := range strings.Split(strings.TrimRight(string(l.Data), "\n"), "\n") {
			ln = strings.TrimRight(ln, "\r")
			if ln == "" {
				continue
			}
			buf := append(t.logs[l.Vertex], ln)
			if len(buf) > 10 {
				buf = buf[len(buf)-10:]
			}
			t.logs[l.Vertex] = buf
			if t.onLog != nil {
				t.onLog(ln)
			}
		}
	}
	t.report()
}

func (t *Tracker) has(d string) bool {
	for _, x := range t.running {
		if x == d {
			return true
		}
	}
	return false
}

func (t *Tracker) remove(d string) {
	for i, x := range t.running {
		if x == d {
			t.running = append(t.running[:i], t.running[i+1:]...)
			return
		}
	}
}

// report names the most recently started step still running, preferring the
// build's own steps over BuildKit's internal bookkeeping.
func (t *Tracker) report() {
	cur := ""
	for i := len(t.running) - 1; i >= 0; i-- {
		n := t.names[t.running[i]]
		if cur == "" {
			cur = n
		}
		if !strings.HasPrefix(n, "[internal]") {
			cur = n
			break
		}
	}
	if cur != "" && cur != t.current {
		t.current = cur
		if t.onStep != nil {
			t.onStep(cur)
		}
	}
}

// Current returns the step running now.
func (t *Tracker) Current() string { return t.current }

// Failure explains a failed build: each failing step with its last output
// lines, then buildx's own ERROR lines.
func (t *Tracker) Failure() string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, e := range t.vertexErr {
		if seen[e.msg] {
			continue
		}
		seen[e.msg] = true
		b.WriteString(e.msg)
		b.WriteByte('\n')
		for _, l := range t.logs[e.digest] {
			b.WriteString("  | " + l + "\n")
		}
	}
	for _, l := range t.other {
		if strings.HasPrefix(l, "ERROR:") || strings.HasPrefix(l, "error:") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	if b.Len() == 0 && len(t.other) > 0 {
		tail := t.other
		if len(tail) > 5 {
			tail = tail[len(tail)-5:]
		}
		b.WriteString(strings.Join(tail, "\n"))
	}
	return strings.TrimSpace(b.String())
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func lastError(out string, err error) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return strings.TrimPrefix(l, "ERROR: ")
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	return err.Error()
}
