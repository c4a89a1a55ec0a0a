package frontend

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/errdefs"
	digest "github.com/opencontainers/go-digest"
	"github.com/pkg/errors"

	"github.com/zlayer/zlayer/frontend/convert"
	"github.com/zlayer/zlayer/frontend/zimagefile"
)

func TestVertexName(t *testing.T) {
	cases := map[string]string{
		"[builder 2/3] RUN --mount=type=cache,target=/c make": "[builder 2/3] run: --mount=type=cache,target=/c make",
		"[2/4] COPY [\"a\",\"b\"]":                            "[2/4] copy: [\"a\",\"b\"]",
		"[runtime 1/2] FROM docker.io/library/busybox:latest": "[runtime 1/2] base: docker.io/library/busybox:latest",
		"[internal] load metadata for docker.io/library/x":    "[internal] load metadata for docker.io/library/x",
		"RUN make": "RUN make",
		"[3/3] RUN --mount=type=cache,target=/c <<'EOF' (echo about to fail...)": "[3/3] run: --mount=type=cache,target=/c echo about to fail...",
	}
	for in, want := range cases {
		if got := vertexName(in); got != want {
			t.Errorf("vertexName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLooksLikeDockerfile(t *testing.T) {
	for src, want := range map[string]bool{
		"# syntax=x\n\nFROM alpine\n": true,
		"arg V=1\nfrom alpine:$V\n":   true,
		"base: alpine\n":              false,
		"":                            false,
	} {
		if got := looksLikeDockerfile([]byte(src)); got != want {
			t.Errorf("looksLikeDockerfile(%q) = %v", src, got)
		}
	}
}

func TestNamedContexts(t *testing.T) {
	got := namedContexts(map[string]string{"context:extra": "local:extra", "context:base::linux/arm64": "x", "build-arg:A": "b"})
	if len(got) != 2 {
		t.Fatalf("got %v", got)
	}
}

func TestMapperRemapsLLBSourceMap(t *testing.T) {
	src := []byte("stages:\n  a:\n    base: scratch\n    steps:\n      - copy: x\n        to: /x\n      - run: |\n          echo one\n          echo two\n")
	f, err := zimagefile.Parse("ZImagefile", src)
	if err != nil {
		t.Fatal(err)
	}
	conv, err := convert.Convert(f)
	if err != nil {
		t.Fatal(err)
	}
	sm := llb.NewSourceMap(nil, "ZImagefile", Language, src)
	m := &mapper{conv: conv, sm: sm}
	ctx := context.Background()
	res, err := dockerfile2llb.Dockerfile2LLB(ctx, conv.Dockerfile, dockerfile2llb.ConvertOpt{SourceMap: sm})
	if err != nil {
		t.Fatal(err)
	}
	def, err := res.State.Marshal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pbDef := def.ToPB()
	m.definition(pbDef)
	var lines [][2]int32
	for _, locs := range pbDef.Source.Locations {
		for _, l := range locs.Locations {
			for _, r := range l.Ranges {
				lines = append(lines, [2]int32{r.Start.Line, r.End.Line})
			}
		}
	}
	want := map[[2]int32]bool{{5, 6}: true, {7, 9}: true}
	found := 0
	for _, l := range lines {
		if want[l] {
			found++
		}
		if l[1] > 9 {
			t.Errorf("range %v is past the ZImagefile", l)
		}
	}
	if found < 2 {
		t.Errorf("ranges %v, want copy at 5-6 and run at 7-9", lines)
	}
	if pbDef.Source.Infos[0].Filename != "ZImagefile" {
		t.Errorf("source info %q", pbDef.Source.Infos[0].Filename)
	}
	names := 0
	for _, md := range pbDef.Metadata {
		if n := md.Description["llb.customname"]; strings.Contains(n, "run: ") || strings.Contains(n, "copy: ") {
			names++
		}
	}
	if names != 2 {
		t.Errorf("%d vertices renamed, want 2", names)
	}
}

func TestMapperWrapsLocationErrors(t *testing.T) {
	src := []byte("base: scratch\nsteps:\n  - copy: x\n    to: /x\n")
	f, _ := zimagefile.Parse("ZImagefile", src)
	conv, _ := convert.Convert(f)
	m := &mapper{conv: conv, sm: llb.NewSourceMap(nil, "ZImagefile", Language, src)}
	// A BuildKit error on the COPY line of the generated Dockerfile.
	line := bytes.Count(conv.Dockerfile, []byte("\n"))
	err := m.wrap(parser.WithLocation(errors.Errorf("dockerfile parse error on line %d: boom", line), []parser.Range{{Start: parser.Position{Line: line}, End: parser.Position{Line: line}}}))
	if !strings.Contains(err.Error(), "ZImagefile:3") {
		t.Errorf("message %q does not name the ZImagefile line", err)
	}
	srcs := errdefs.Sources(err)
	if len(srcs) != 1 || srcs[0].Ranges[0].Start.Line != 3 || srcs[0].Ranges[0].End.Line != 4 {
		t.Fatalf("sources %v", srcs)
	}
}

// countingClient counts image resolutions; only ResolveImageConfig is
// called by the test.
type countingClient struct {
	gwclient.Client
	mu    sync.Mutex
	calls int
}

func (c *countingClient) ResolveImageConfig(ctx context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	time.Sleep(10 * time.Millisecond)
	return ref, digest.FromString(ref), []byte(`{}`), nil
}

func TestResolveOnce(t *testing.T) {
	cc := &countingClient{}
	c := &resolveOnce{Client: cc}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref, dgst, _, err := c.ResolveImageConfig(context.Background(), "busybox", sourceresolver.Opt{})
			if err != nil || ref != "busybox" || dgst != digest.FromString("busybox") {
				t.Errorf("got %s %s %v", ref, dgst, err)
			}
		}()
	}
	wg.Wait()
	_, _, _, _ = c.ResolveImageConfig(context.Background(), "alpine", sourceresolver.Opt{})
	if cc.calls != 2 {
		t.Errorf("%d resolutions, want 2", cc.calls)
	}
}

func TestMappedFixesResultsAndWrapsErrors(t *testing.T) {
	src := []byte("base: scratch\nsteps:\n  - copy: x\n    to: /x\n")
	f, _ := zimagefile.Parse("ZImagefile", src)
	conv, _ := convert.Convert(f)
	m := &mapper{conv: conv, sm: llb.NewSourceMap(nil, "ZImagefile", Language, src)}
	fixed := 0
	fix := func(*int) { fixed++ }
	n := 7
	if r, err := mapped(m, &n, nil, fix); err != nil || r != &n || fixed != 1 {
		t.Fatalf("success: got %v, %v, fixed %d; want the result, nil, fixed once", r, err, fixed)
	}
	line := bytes.Count(conv.Dockerfile, []byte("\n"))
	cause := parser.WithLocation(errors.Errorf("boom on line %d", line), []parser.Range{{Start: parser.Position{Line: line}, End: parser.Position{Line: line}}})
	r, err := mapped(m, &n, cause, fix)
	if r != nil || fixed != 1 {
		t.Fatalf("failure: got %v, fixed %d; want nil and no fix", r, fixed)
	}
	if len(errdefs.Sources(err)) != 1 {
		t.Fatalf("failure: error %v carries no ZImagefile source", err)
	}
}
