package imagebuild

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/docker/cli/cli/config"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"

	"github.com/zlayer/zlayer/frontend"
	"github.com/zlayer/zlayer/frontend/zimagefile"
	"github.com/zlayer/zlayer/pipeline/buildsecret"
)

func detectRuntime(dir string) (string, error) { return zimagefile.DetectRuntime(dir) }

// UnreachableError says buildkitd did not answer at the address.
type UnreachableError struct {
	Addr string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("buildkitd at %s is unreachable: %v (is buildkitd running? check --addr or BUILDKIT_HOST)", e.Addr, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// buildInProcess solves with the BuildKit client, running the ZImagefile
// frontend (which hands Dockerfiles to BuildKit's Dockerfile builder) in
// this process: buildkitd needs no frontend image.
func buildInProcess(ctx context.Context, o Options, p *Plan) error {
	if o.Load {
		return errors.New("--load needs docker's image store, which --addr does not reach: build with buildx (no --addr), or export with --output type=docker,dest=FILE and `docker load`")
	}
	exports, err := Exports(o)
	if err != nil {
		return err
	}
	c, err := bkclient.New(ctx, o.Addr)
	if err != nil {
		return &UnreachableError{Addr: o.Addr, Err: err}
	}
	defer c.Close()
	if _, err := c.ListWorkers(ctx); err != nil {
		return &UnreachableError{Addr: o.Addr, Err: err}
	}
	ctxFS, err := fsutil.NewFS(p.Context)
	if err != nil {
		return fmt.Errorf("context %s: %w", p.Context, err)
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(p.File.Path))
	if err != nil {
		return err
	}
	attrs := map[string]string{"filename": filepath.Base(p.File.Path)}
	for k, v := range p.Args {
		if k == "BUILDKIT_SYNTAX" {
			continue // the frontend runs here; no image to select
		}
		attrs["build-arg:"+k] = v
	}
	if o.Target != "" {
		attrs["target"] = o.Target
	}
	if len(o.Platforms) > 0 {
		attrs["platform"] = strings.Join(o.Platforms, ",")
	}
	if o.NoCache {
		attrs["no-cache"] = ""
	}
	cfg := config.LoadDefaultConfigFile(io.Discard)
	secretAttachables, err := buildsecret.Attachables(p.Secrets, p.SSH)
	if err != nil {
		return err
	}
	opt := bkclient.SolveOpt{
		Exports:       exports,
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		FrontendAttrs: attrs,
		Session: append([]session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
			AuthConfigProvider: authprovider.LoadAuthConfig(cfg),
		})}, secretAttachables...),
	}
	mode := progressui.DisplayMode(o.Progress)
	if o.Progress == "" {
		mode = progressui.AutoMode
	}
	disp, err := progressui.NewDisplay(o.Stderr, mode)
	if err != nil {
		return fmt.Errorf("--progress %s: %w", o.Progress, err)
	}
	ch := make(chan *bkclient.SolveStatus)
	eg, ectx := errgroup.WithContext(ctx)
	var resp *bkclient.SolveResponse
	eg.Go(func() error {
		var err error
		resp, err = c.Build(ectx, opt, "zlayer", frontend.Build, ch)
		return err
	})
	eg.Go(func() error {
		_, err := disp.UpdateFrom(context.WithoutCancel(ectx), ch)
		return err
	})
	if err := eg.Wait(); err != nil {
		return missingSecret(err)
	}
	if d := resp.ExporterResponse["containerimage.digest"]; d != "" && o.Progress != "quiet" {
		fmt.Fprintf(o.Stderr, "digest: %s\n", d)
	}
	return nil
}

// Exports turns --output, --tag and --push into BuildKit exports, reading
// --output as buildx does.
func Exports(o Options) ([]bkclient.ExportEntry, error) {
	var out []bkclient.ExportEntry
	name := strings.Join(o.Tags, ",")
	for _, spec := range o.Outputs {
		e, err := parseOutput(spec, name, o.Stdout)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(out) == 0 && (o.Push || len(o.Tags) > 0) {
		attrs := map[string]string{"name": name}
		if o.Push {
			attrs["push"] = "true"
		}
		out = append(out, bkclient.ExportEntry{Type: bkclient.ExporterImage, Attrs: attrs})
	} else if o.Push {
		pushed := false
		for _, e := range out {
			if e.Type == bkclient.ExporterImage {
				e.Attrs["push"] = "true"
				pushed = true
			}
		}
		if !pushed {
			out = append(out, bkclient.ExportEntry{Type: bkclient.ExporterImage, Attrs: map[string]string{"name": name, "push": "true"}})
		}
	}
	for _, e := range out {
		if e.Type == bkclient.ExporterImage && e.Attrs["name"] == "" && e.Attrs["push"] == "true" {
			return nil, errors.New("--push needs an image name: add -t NAME")
		}
	}
	return out, nil
}

func parseOutput(spec, name string, stdout io.Writer) (bkclient.ExportEntry, error) {
	if !strings.Contains(spec, "=") {
		// buildx shorthand: a bare path is a local export, "-" a tar to stdout.
		if spec == "-" {
			spec = "type=tar,dest=-"
		} else {
			spec = "type=local,dest=" + spec
		}
	}
	fields, err := csv.NewReader(strings.NewReader(spec)).Read()
	if err != nil {
		return bkclient.ExportEntry{}, fmt.Errorf("--output %q: %w", spec, err)
	}
	attrs := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return bkclient.ExportEntry{}, fmt.Errorf("--output %q: %q is not KEY=VALUE", spec, f)
		}
		attrs[strings.TrimSpace(strings.ToLower(k))] = v
	}
	typ := attrs["type"]
	delete(attrs, "type")
	dest := attrs["dest"]
	delete(attrs, "dest")
	e := bkclient.ExportEntry{Type: typ, Attrs: attrs}
	switch typ {
	case "registry":
		e.Type = bkclient.ExporterImage
		attrs["push"] = "true"
		fallthrough
	case bkclient.ExporterImage:
		if attrs["name"] == "" {
			attrs["name"] = name
		}
	case bkclient.ExporterLocal:
		if dest == "" {
			return e, fmt.Errorf("--output %q: type=local needs dest=FOLDER", spec)
		}
		e.OutputDir = dest
	case bkclient.ExporterOCI, bkclient.ExporterDocker, bkclient.ExporterTar:
		if name != "" && typ != bkclient.ExporterTar && attrs["name"] == "" {
			attrs["name"] = name
		}
		if dest == "" {
			return e, fmt.Errorf("--output %q: type=%s needs dest=FILE (or dest=- for stdout)", spec, typ)
		}
		if typ == bkclient.ExporterOCI && attrs["tar"] == "false" {
			e.OutputDir = dest
			break
		}
		e.Output = fileOutput(dest, stdout)
	case "":
		return e, fmt.Errorf("--output %q: missing type= (image, registry, oci, docker, tar or local)", spec)
	default:
		return e, fmt.Errorf("--output %q: unknown type %q (image, registry, oci, docker, tar or local)", spec, typ)
	}
	return e, nil
}

func fileOutput(dest string, stdout io.Writer) func(map[string]string) (io.WriteCloser, error) {
	return func(map[string]string) (io.WriteCloser, error) {
		if dest == "-" {
			return nopCloser{stdout}, nil
		}
		if dir := filepath.Dir(dest); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
		}
		return os.Create(dest)
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// BuildKit reports a required secret the session does not hold as
// "secret ID: not found".
var secretNotFoundRe = regexp.MustCompile(`secret ([A-Za-z0-9_.-]+): not found`)

// missingSecret says how to give a required secret the build did not get.
func missingSecret(err error) error {
	m := secretNotFoundRe.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	return fmt.Errorf("%w\nbuild secret %s was not given: pass --secret id=%s,src=FILE (or env=VAR)", err, m[1], m[1])
}
