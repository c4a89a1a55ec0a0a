// Package imagebuild builds one image from a ZImagefile or a Dockerfile, with
// stock `docker buildx build` (the ZImagefile frontend image selected through
// BUILDKIT_SYNTAX) or in process against a buildkitd address, where the
// ZImagefile frontend runs inside this program and needs no image.
package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/zlayer/zlayer/pipeline/bake"
	"github.com/zlayer/zlayer/pipeline/buildfile"
	"github.com/zlayer/zlayer/pipeline/buildsecret"
)

// Options are the build command's choices.
type Options struct {
	File      string // "" finds the build file in Context
	Context   string
	Tags      []string
	BuildArgs []string // K=V (K alone takes the value from the environment)
	Target    string
	Platforms []string
	NoCache   bool
	Push      bool
	Load      bool
	Outputs   []string
	Builder   string
	Addr      string // buildkitd address: build in process
	Frontend  string
	Progress  string   // auto, plain, tty, quiet
	Runtime   string   // runtime template instead of a file
	Secrets   []string // --secret id=ID,src=FILE|env=VAR
	SSH       []string // --ssh default|ID[=SOCKET|KEY,...]
	Stdout    io.Writer
	Stderr    io.Writer
	Env       []string
}

// Plan is a build resolved from Options: the file, its kind and the args.
type Plan struct {
	Context  string
	File     *buildfile.File
	Args     map[string]string
	argOrder []string
	Secrets  []buildsecret.Secret
	SSH      []buildsecret.SSH
	Cleanup  func()
}

// Resolve finds the build file (or writes the runtime template's) and parses
// the build args.
func Resolve(o Options) (*Plan, error) {
	ctxDir := o.Context
	if ctxDir == "" {
		ctxDir = "."
	}
	if ctxDir == "-" || strings.Contains(ctxDir, "://") {
		return nil, fmt.Errorf("context %q: zlayer builds from a local folder", ctxDir)
	}
	abs, err := filepath.Abs(ctxDir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("build context %s is not a folder", ctxDir)
	}
	secs, agents, err := buildsecret.ParseAll(o.Secrets, o.SSH)
	if err != nil {
		return nil, fmt.Errorf("--secret/--ssh: %w", err)
	}
	p := &Plan{Context: abs, Args: map[string]string{}, Secrets: secs, SSH: agents, Cleanup: func() {}}
	switch {
	case o.Runtime != "" && o.File != "":
		return nil, errors.New("--runtime and -f both name what to build; give one")
	case o.Runtime != "":
		f, cleanup, err := runtimeFile(abs, o.Runtime)
		if err != nil {
			return nil, err
		}
		p.File, p.Cleanup = f, cleanup
	default:
		f, err := buildfile.Find(abs, o.File)
		if err != nil {
			return nil, err
		}
		p.File = f
	}
	for _, kv := range o.BuildArgs {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			p.Cleanup()
			return nil, fmt.Errorf("--build-arg %q: want KEY=VALUE", kv)
		}
		if !ok {
			// As docker does: a bare name takes its value from the environment.
			var set bool
			if v, set = os.LookupEnv(k); !set {
				continue
			}
		}
		if _, dup := p.Args[k]; !dup {
			p.argOrder = append(p.argOrder, k)
		}
		p.Args[k] = v
	}
	if p.File.Kind == buildfile.ZImagefile && p.File.Syntax == "" {
		if _, set := p.Args["BUILDKIT_SYNTAX"]; !set {
			p.Args["BUILDKIT_SYNTAX"] = frontendRef(o.Frontend)
			p.argOrder = append(p.argOrder, "BUILDKIT_SYNTAX")
		}
	}
	return p, nil
}

func frontendRef(flag string) string {
	if flag != "" {
		return flag
	}
	if f := os.Getenv("ZLAYER_FRONTEND"); f != "" {
		return f
	}
	return bake.DefaultFrontend
}

// runtimeFile writes a one-line ZImagefile selecting a runtime template
// ("auto" detects it from the context), outside the context so it is not
// sent with it.
func runtimeFile(ctxDir, runtime string) (*buildfile.File, func(), error) {
	if runtime == "auto" {
		r, err := detectRuntime(ctxDir)
		if err != nil {
			return nil, nil, err
		}
		runtime = r
	}
	dir, err := os.MkdirTemp("", "zlayer-runtime-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	path := filepath.Join(dir, "ZImagefile")
	body := fmt.Sprintf("version: \"1\"\nruntime: %s\n", runtime)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		cleanup()
		return nil, nil, err
	}
	f, err := buildfile.Read(path)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return f, cleanup, nil
}

// Build runs the build on the backend Options select.
func Build(ctx context.Context, o Options) error {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	switch o.Progress {
	case "", "auto", "plain", "tty", "quiet", "rawjson":
	default:
		return fmt.Errorf("--progress %q: want auto, plain, tty or quiet", o.Progress)
	}
	p, err := Resolve(o)
	if err != nil {
		return err
	}
	defer p.Cleanup()
	if o.Addr != "" {
		return buildInProcess(ctx, o, p)
	}
	return buildWithBuildx(ctx, o, p)
}
