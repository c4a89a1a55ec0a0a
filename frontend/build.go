// Package frontend is the ZImagefile BuildKit gateway frontend: it reads a
// ZImagefile from the build's dockerfile input, converts it to the
// equivalent Dockerfile and hands that to BuildKit's own Dockerfile
// converter, so every standard option (build args, targets, platforms,
// named contexts, cache imports, .dockerignore, subrequests) behaves as it
// does for Dockerfiles. Every location BuildKit reports is mapped back to the
// ZImagefile, so users never see the generated Dockerfile in an error.
package frontend

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/frontend/dockerfile/builder"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/frontend/subrequests/convertllb"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/pkg/errors"

	"github.com/zlayer/zlayer/frontend/convert"
	"github.com/zlayer/zlayer/frontend/zimagefile"
)

// Language is the source-map language of ZImagefiles.
const Language = "YAML"

// Build is the whole frontend: run it in process with bkclient.Build, or in
// the frontend image through grpcclient.RunFromEnvironment.
func Build(ctx context.Context, c gwclient.Client) (_ *gwclient.Result, err error) {
	c = &resolveOnce{Client: c}
	bc, err := dockerui.NewClient(c)
	if err != nil {
		return nil, err
	}
	src, err := bc.ReadEntrypoint(ctx, Language)
	if err != nil {
		return nil, err
	}
	if !zimagefile.LooksLike(src.Data) && looksLikeDockerfile(src.Data) {
		// A Dockerfile sent here (e.g. with BUILDKIT_SYNTAX set for a whole
		// bake file) builds as a Dockerfile rather than failing as bad YAML.
		return builder.Build(ctx, c)
	}

	f, perr := zimagefile.ParseWithOptions(src.Filename, src.Data, zimagefile.Options{Contexts: namedContexts(bc.BuildOpts().Opts)})
	var conv *convert.Result
	if perr == nil {
		conv, perr = convert.Convert(f)
	}
	if perr != nil {
		// Lint (buildx --call check) reports the problem as a result.
		if res, ok, err := bc.HandleSubrequest(ctx, dockerui.RequestHandler{
			AllowOther: true,
			Lint: func(ctx context.Context) (*lint.LintResults, error) {
				return parseLintResults(src.SourceMap, perr), nil
			},
		}); err != nil || ok {
			return res, err
		}
		return nil, withSources(perr, src.SourceMap)
	}

	m := &mapper{conv: conv, sm: src.SourceMap}
	dt := conv.Dockerfile
	if conv.Platform != "" {
		p, err := platforms.Parse(conv.Platform)
		if err != nil {
			return nil, err
		}
		bc.TargetPlatforms = []ocispecs.Platform{p}
		bc.MultiPlatformRequested = false
	}

	convertOpt := dockerfile2llb.ConvertOpt{
		Config:       bc.Config,
		Client:       bc,
		SourceMap:    src.SourceMap,
		MetaResolver: c,
		Warn: func(rulename, description, url, msg string, location []parser.Range) {
			loc := m.ranges(location)
			startLine := 0
			if len(loc) > 0 {
				startLine = int(loc[0].Start.Line)
			}
			msg = linter.LintFormatShort(rulename, msg, startLine)
			src.Warn(ctx, msg, gwclient.WarnOpts{Level: 1, Detail: [][]byte{[]byte(description)}, URL: url, Range: loc})
		},
	}

	if res, ok, err := bc.HandleSubrequest(ctx, dockerui.RequestHandler{
		Outline: func(ctx context.Context) (*outline.Outline, error) {
			o, err := dockerfile2llb.Dockerfile2Outline(ctx, dt, convertOpt)
			return mapped(m, o, err, m.outline)
		},
		ListTargets: func(ctx context.Context) (*targets.List, error) {
			l, err := dockerfile2llb.ListTargets(ctx, dt)
			return mapped(m, l, err, m.targets)
		},
		Lint: func(ctx context.Context) (*lint.LintResults, error) {
			r, err := dockerfile2llb.DockerfileLint(ctx, dt, convertOpt)
			return mapped(m, r, err, m.lint)
		},
		ConvertLLB: func(ctx context.Context) (*convertllb.Result, error) {
			r, err := dockerfile2llb.DockerfileConvertLLB(ctx, dt, convertOpt)
			return r, m.wrap(err)
		},
	}); err != nil {
		return nil, err
	} else if ok {
		return res, nil
	}

	rb, err := bc.Build(ctx, func(ctx context.Context, platform *ocispecs.Platform, idx int) (*dockerui.BuildResult, error) {
		opt := convertOpt
		opt.BuildArgs = maps.Clone(opt.BuildArgs)
		opt.TargetPlatform = platform
		if idx != 0 {
			opt.Warn = nil
		}
		dfRes, err := dockerfile2llb.Dockerfile2LLB(ctx, dt, opt)
		if err != nil {
			return nil, m.wrap(err)
		}
		def, err := dfRes.State.Marshal(ctx)
		if err != nil {
			return nil, errors.Wrap(err, "failed to marshal LLB definition")
		}
		pbDef := def.ToPB()
		m.definition(pbDef)
		r, err := c.Solve(ctx, gwclient.SolveRequest{
			Definition:   pbDef,
			CacheImports: bc.CacheImports,
		})
		if err != nil {
			return nil, err
		}
		ref, err := r.SingleRef()
		if err != nil {
			return nil, err
		}
		return &dockerui.BuildResult{
			Reference: ref,
			Image:     dfRes.Image,
			BaseImage: dfRes.BaseImage,
			Epoch:     dfRes.Epoch,
		}, nil
	})
	if err != nil {
		return nil, err
	}
	res, err := rb.Finalize()
	if err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(conv.Annotations) {
		res.AddMeta(exptypes.AnnotationManifestKey(nil, k), []byte(conv.Annotations[k]))
		res.AddMeta(exptypes.AnnotationManifestDescriptorKey(nil, k), []byte(conv.Annotations[k]))
	}
	return res, nil
}

// namedContexts lists the names of --build-context contexts (frontend
// options "context:NAME"; a ":platform" suffix scopes one to a platform).
func namedContexts(opts map[string]string) []string {
	var out []string
	for k := range opts {
		name, ok := strings.CutPrefix(k, "context:")
		if !ok {
			continue
		}
		if i := strings.LastIndex(name, "::"); i >= 0 {
			name = name[:i]
		}
		out = append(out, name)
	}
	return out
}

var dockerfileInstRe = regexp.MustCompile(`(?im)^\s*(FROM|ARG)\s+\S`)

func looksLikeDockerfile(dt []byte) bool {
	for _, line := range strings.Split(string(dt), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		return dockerfileInstRe.MatchString(t)
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// mapped hands a subrequest's result to fix, which maps its positions to
// the ZImagefile's, or maps the positions in its error.
func mapped[T any](m *mapper, r T, err error, fix func(T)) (T, error) {
	if err != nil {
		var none T
		return none, m.wrap(err)
	}
	fix(r)
	return r, nil
}

// mapper maps locations in the generated Dockerfile back to the ZImagefile.
type mapper struct {
	conv *convert.Result
	sm   *llb.SourceMap
}

func pbRange(r zimagefile.Range) *pb.Range {
	end := r.End
	if end.Line < r.Start.Line {
		end = r.Start
	}
	return &pb.Range{
		Start: &pb.Position{Line: int32(r.Start.Line), Character: int32(r.Start.Column)},
		End:   &pb.Position{Line: int32(end.Line), Character: int32(end.Column)},
	}
}

func (m *mapper) mapPB(r *pb.Range) *pb.Range {
	if r == nil || r.Start == nil {
		return r
	}
	end := r.Start.Line
	if r.End != nil {
		end = r.End.Line
	}
	zr, ok := m.conv.MapRange(int(r.Start.Line), int(end))
	if !ok {
		return &pb.Range{Start: &pb.Position{Line: 1}, End: &pb.Position{Line: 1}}
	}
	return pbRange(zr)
}

func (m *mapper) ranges(rs []parser.Range) []*pb.Range {
	out := make([]*pb.Range, 0, len(rs))
	for _, r := range rs {
		zr, ok := m.conv.MapRange(r.Start.Line, r.End.Line)
		if ok {
			out = append(out, pbRange(zr))
		}
	}
	return out
}

func (m *mapper) location(l *pb.Location) {
	if l == nil {
		return
	}
	for i, r := range l.Ranges {
		l.Ranges[i] = m.mapPB(r)
	}
}

func (m *mapper) sourceInfo() *pb.SourceInfo {
	info := &pb.SourceInfo{Data: m.sm.Data, Filename: m.sm.Filename, Language: m.sm.Language}
	if m.sm.Definition != nil {
		info.Definition = m.sm.Definition.ToPB()
	}
	return info
}

// definition rewrites the LLB source map so that failing steps point at the
// ZImagefile. dockerfile2llb recorded our SourceMap (which already holds the
// ZImagefile's text) with Dockerfile line numbers; only the ranges change.
func (m *mapper) definition(def *pb.Definition) {
	for _, md := range def.Metadata {
		if md == nil || md.Description == nil {
			continue
		}
		if name, ok := md.Description["llb.customname"]; ok {
			md.Description["llb.customname"] = vertexName(name)
		}
	}
	if def.Source == nil {
		return
	}
	for _, locs := range def.Source.Locations {
		for _, l := range locs.Locations {
			m.location(l)
		}
	}
}

var vertexRe = regexp.MustCompile(`^(\[[^\]]*\] )(RUN|COPY|ADD|WORKDIR|USER|ENV|FROM) `)

// vertexName renames a progress vertex from Dockerfile words to ZImagefile
// keys ("[app 2/3] RUN make" becomes "[app 2/3] run: make"), so build output
// speaks the language of the file the user wrote.
func vertexName(name string) string {
	m := vertexRe.FindStringSubmatchIndex(name)
	if m == nil {
		return name
	}
	word := strings.ToLower(name[m[4]:m[5]])
	if word == "from" {
		word = "base"
	}
	rest := name[m[1]:]
	// A multi-line run is a heredoc in the generated Dockerfile; show its
	// first line as the user wrote it.
	if h := heredocNameRe.FindStringSubmatchIndex(rest); h != nil {
		rest = rest[:h[0]] + rest[h[2]:h[3]]
	}
	return name[:m[3]] + word + ": " + rest
}

var heredocNameRe = regexp.MustCompile(`<<'EOF[0-9]*' \((.*)\)$`)

func (m *mapper) outline(o *outline.Outline) {
	o.Sources = [][]byte{m.sm.Data}
	for i := range o.Args {
		m.location(o.Args[i].Location)
	}
	for i := range o.Secrets {
		m.location(o.Secrets[i].Location)
	}
	for i := range o.SSH {
		m.location(o.SSH[i].Location)
	}
	for i := range o.Cache {
		m.location(o.Cache[i].Location)
	}
}

func (m *mapper) targets(l *targets.List) {
	l.Sources = [][]byte{m.sm.Data}
	for i := range l.Targets {
		m.location(l.Targets[i].Location)
	}
}

func (m *mapper) lint(r *lint.LintResults) {
	for i := range r.Warnings {
		m.location(r.Warnings[i].Location)
	}
	if r.Error != nil {
		m.location(&r.Error.Location)
		r.Error.Message = m.message(r.Error.Message)
	}
}

var dockerfileLineRe = regexp.MustCompile(`(?:on )?line (\d+)`)

// message rewrites "line N" of the generated Dockerfile in BuildKit's
// messages to the ZImagefile line.
func (m *mapper) message(msg string) string {
	return dockerfileLineRe.ReplaceAllStringFunc(msg, func(s string) string {
		sub := dockerfileLineRe.FindStringSubmatch(s)
		n, _ := strconv.Atoi(sub[1])
		zr, ok := m.conv.MapRange(n, n)
		if !ok {
			return s
		}
		return fmt.Sprintf("%s:%d", m.sm.Filename, zr.Start.Line)
	})
}

type mappedError struct {
	msg string
	err error
}

func (e *mappedError) Error() string { return e.msg }
func (e *mappedError) Unwrap() error { return e.err }

// wrap maps a dockerfile2llb error's locations to the ZImagefile.
func (m *mapper) wrap(err error) error {
	if err == nil {
		return nil
	}
	var el *parser.LocationError
	if !errors.As(err, &el) {
		return err
	}
	out := error(&mappedError{msg: m.message(err.Error()), err: err})
	for _, loc := range el.Locations {
		src := &errdefs.Source{Info: m.sourceInfo(), Ranges: m.ranges(loc)}
		if len(src.Ranges) > 0 {
			out = errdefs.WithSource(out, src)
		}
	}
	return out
}

// withSources attaches every parse error's YAML range so buildx prints the
// ZImagefile snippet of each.
func withSources(err error, sm *llb.SourceMap) error {
	var list zimagefile.ErrorList
	if !errors.As(err, &list) {
		return err
	}
	info := &pb.SourceInfo{Data: sm.Data, Filename: sm.Filename, Language: sm.Language}
	if sm.Definition != nil {
		info.Definition = sm.Definition.ToPB()
	}
	out := err
	// buildx prints the innermost source first: wrap in file order.
	for _, e := range list {
		out = errdefs.WithSource(out, &errdefs.Source{Info: info, Ranges: []*pb.Range{pbRange(e.Range)}})
	}
	return out
}

func parseLintResults(sm *llb.SourceMap, err error) *lint.LintResults {
	r := &lint.LintResults{}
	idx := r.AddSource(sm)
	be := &lint.BuildError{Message: err.Error(), Location: pb.Location{SourceIndex: int32(idx)}}
	var list zimagefile.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			be.Location.Ranges = append(be.Location.Ranges, pbRange(e.Range))
		}
	}
	r.Error = be
	return r
}
